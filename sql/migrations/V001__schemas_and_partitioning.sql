-- Schemas of the medallion warehouse and the helper that keeps daily partitions in place.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;

-- Creates the daily partitions of a table partitioned by range on a timestamptz column for
-- every day in [first_day, last_day]. Sinks call it before writing, so a day never lands in a
-- missing partition; retention drops whole partitions instead of deleting rows. Two writers
-- may need the same new day at once: the loser of that race must not fail.
CREATE OR REPLACE FUNCTION bronze.ensure_daily_partitions(
    parent regclass, first_day date, last_day date
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date := first_day;
    created integer := 0;
    parent_schema text;
    parent_name text;
    partition_name text;
BEGIN
    SELECT n.nspname, c.relname INTO parent_schema, parent_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = parent;
    WHILE day <= last_day LOOP
        partition_name := format('%s_%s', parent_name, to_char(day, 'YYYYMMDD'));
        IF to_regclass(format('%I.%I', parent_schema, partition_name)) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                    parent_schema, partition_name, parent,
                    day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC'
                );
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- created meanwhile by another writer
            END;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END;
$$;
