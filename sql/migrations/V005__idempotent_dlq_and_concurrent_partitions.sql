-- DLQ rows are partitioned by the time they were received, which differs on a replay: the
-- partition key cannot make dlq_id unique, so sinks look the id up before inserting.
CREATE INDEX ON bronze.dlq_events (dlq_id);

-- Two writers may need the same new day at once: the loser of the race must not fail.
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
