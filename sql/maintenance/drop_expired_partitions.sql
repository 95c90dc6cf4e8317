-- Drops the daily partitions of a bronze table whose whole day is older than the retention.
-- Parameters: %(parent)s (e.g. 'bronze.raw_transactions'), %(retention_days)s, %(now)s.
-- Returns one row per dropped partition. A partition is dropped only when its upper bound is
-- at or before now - retention, so no row younger than the retention is ever removed.
SELECT bronze.drop_expired_partitions(
    %(parent)s::regclass, %(retention_days)s::integer, %(now)s::timestamptz
) AS dropped;
