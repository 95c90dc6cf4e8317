-- gold.agg_hourly_sales: every (store, hour) touched by a fact changed in the window is
-- recomputed whole from the facts, never patched with a partial slice: the buckets silver's
-- changed rows are in now, and those facts left (gold.pending_moved_hours, captured before the
-- fact load). The touched pairs are collected first (a few thousand), then each one's facts
-- are aggregated by store and event-time range, which the (store_key, event_time) index
-- serves: the cost follows the touched buckets, not the history (a join on
-- date_bin(f.event_time) = hour_start read every fact: 1.4 s for 1,100 buckets over 3M facts,
-- 0.1 s now; a whole new day of 1M facts, 12k buckets, takes 2.5 s instead of 1.7). A
-- touched bucket left without facts counts 0 and is deleted. date_bin from a UTC midnight is
-- the UTC hour, without date_trunc(..., 'UTC')'s time-zone lookup per row. The statement
-- returns one row per aggregate row inserted, updated or deleted: its row count is what it
-- changed.
WITH moved AS (
    DELETE FROM gold.pending_moved_hours RETURNING store_key, hour_start
),
touched AS (
    SELECT s.store_key, date_bin('1 hour', t.event_time, '2000-01-01T00:00:00Z') AS hour_start
    FROM silver.clean_transactions t JOIN gold.dim_store s ON s.store_id = t.store_id
    WHERE t.updated_at >= %(since)s AND t.updated_at < %(until)s
    UNION
    SELECT store_key, hour_start FROM moved
),
totals AS (
    SELECT h.store_key, h.hour_start, x.transactions, x.total_amount, x.alerts
    FROM touched h
    CROSS JOIN LATERAL (
        SELECT count(*) AS transactions, sum(f.amount) AS total_amount,
               count(*) FILTER (WHERE f.is_alert) AS alerts
        FROM gold.fact_transactions f
        WHERE f.store_key = h.store_key
          AND f.event_time >= h.hour_start AND f.event_time < h.hour_start + interval '1 hour'
    ) AS x
),
upserted AS (
    INSERT INTO gold.agg_hourly_sales AS a (store_key, hour_start, transactions, total_amount, alerts)
    SELECT store_key, hour_start, transactions, total_amount, alerts FROM totals
    WHERE transactions > 0
    ON CONFLICT (store_key, hour_start) DO UPDATE SET
        transactions = EXCLUDED.transactions, total_amount = EXCLUDED.total_amount,
        alerts = EXCLUDED.alerts, refreshed_at = now()
    WHERE (a.transactions, a.total_amount, a.alerts)
        IS DISTINCT FROM (EXCLUDED.transactions, EXCLUDED.total_amount, EXCLUDED.alerts)
    RETURNING a.store_key, a.hour_start
),
emptied AS (
    DELETE FROM gold.agg_hourly_sales AS a
    USING totals x
    WHERE x.transactions = 0 AND a.store_key = x.store_key AND a.hour_start = x.hour_start
    RETURNING a.store_key, a.hour_start
)
SELECT store_key, hour_start FROM upserted
UNION ALL
SELECT store_key, hour_start FROM emptied;
