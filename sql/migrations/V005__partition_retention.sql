-- Retention by partition: dropping a whole day is instant and leaves no bloat, unlike DELETE.
CREATE OR REPLACE FUNCTION bronze.drop_expired_partitions(
    parent regclass, retention_days integer, now_at timestamptz
) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
    child_name text;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS child, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
    LOOP
        -- bound reads: FOR VALUES FROM ('...') TO ('...')
        upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper_bound IS NOT NULL
           AND upper_bound <= now_at - make_interval(days => retention_days) THEN
            child_name := part.child::text;  -- before the drop: then it is just an oid
            EXECUTE format('DROP TABLE %s', child_name);
            RETURN NEXT child_name;
        END IF;
    END LOOP;
END;
$$;
