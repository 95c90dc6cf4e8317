-- The queue's counts per status without counting: a million cases took ~100 ms to count on
-- every queue page (benchmarks/console.py). Kept by statement-level triggers with transition
-- tables: an intake batch or a bulk verdict is one update of the counters, and an update that
-- changes no status (taking, assigning) does not touch them.
-- No case may change between the count below and the triggers: a change in between would
-- never be counted.
LOCK TABLE console.alert_cases IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE console.status_counts (
    status text   PRIMARY KEY CHECK (status IN ('open', 'escalated', 'confirmed', 'dismissed')),
    alerts bigint NOT NULL CHECK (alerts >= 0)
);
INSERT INTO console.status_counts (status, alerts)
SELECT s.status, (SELECT count(*) FROM console.alert_cases c WHERE c.status = s.status)
FROM unnest(ARRAY['open', 'escalated', 'confirmed', 'dismissed']) AS s(status);

CREATE FUNCTION console.count_statuses() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change record;
BEGIN
    -- Counter by counter in status order: two decisions moving cases between the same
    -- statuses in opposite directions lock them in the same order, so never deadlock.
    IF TG_OP = 'INSERT' THEN
        FOR change IN
            SELECT status, count(*) AS delta FROM new_rows GROUP BY status ORDER BY status
        LOOP
            UPDATE console.status_counts SET alerts = alerts + change.delta
                WHERE status = change.status;
        END LOOP;
    ELSE
        FOR change IN
            SELECT status, sum(delta) AS delta FROM (
                SELECT status, 1 AS delta FROM new_rows
                UNION ALL
                SELECT status, -1 FROM old_rows
            ) AS moves GROUP BY status HAVING sum(delta) <> 0 ORDER BY status
        LOOP
            UPDATE console.status_counts SET alerts = alerts + change.delta
                WHERE status = change.status;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER alert_cases_counted_on_insert
    AFTER INSERT ON console.alert_cases REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION console.count_statuses();
CREATE TRIGGER alert_cases_counted_on_update
    AFTER UPDATE ON console.alert_cases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION console.count_statuses();

GRANT SELECT, UPDATE ON console.status_counts TO streamflow_console;
