-- Before the fact load: the aggregate buckets that facts are about to LEAVE. A corrected
-- resend can move a fact to another store, hour or day; the aggregates read their buckets
-- from silver's new values, so without this the old (store, hour) and day would keep the
-- moved fact forever. Kept in gold.pending_moved_hours and gold.pending_moved_days until the
-- aggregate steps have recomputed them (each deletes what it recomputed). Only facts whose
-- store or UTC hour changes (a new day is a new hour) are kept: any other change stays in
-- the bucket silver names, so a re-run captures nothing. Returns one row per bucket added.
WITH moved AS (
    SELECT DISTINCT f.store_key,
           date_bin('1 hour', f.event_time, '2000-01-01T00:00:00Z') AS hour_start,
           (f.event_time AT TIME ZONE 'UTC')::date AS day
    FROM silver.clean_transactions t
    JOIN gold.fact_transactions f ON f.transaction_id = t.transaction_id
    JOIN gold.dim_store s ON s.store_key = f.store_key
    WHERE t.updated_at >= %(since)s AND t.updated_at < %(until)s
      AND (s.store_id <> t.store_id
           OR date_bin('1 hour', f.event_time, '2000-01-01T00:00:00Z')
              <> date_bin('1 hour', t.event_time, '2000-01-01T00:00:00Z'))
),
hours AS (
    INSERT INTO gold.pending_moved_hours (store_key, hour_start)
    SELECT DISTINCT store_key, hour_start FROM moved
    ON CONFLICT DO NOTHING
    RETURNING 1
),
days AS (
    INSERT INTO gold.pending_moved_days (day)
    SELECT DISTINCT day FROM moved
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT 1 FROM hours UNION ALL SELECT 1 FROM days;
