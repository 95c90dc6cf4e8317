-- Deletes orchestration events older than the retention; returns how many were deleted.
WITH deleted AS (
    DELETE FROM silver.ops_events
    WHERE occurred_at < %(now)s::timestamptz - make_interval(days => %(retention_days)s::integer)
    RETURNING 1
)
SELECT count(*) AS deleted FROM deleted;
