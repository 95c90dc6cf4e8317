-- gold.agg_hourly_sales: every (store, hour) touched by a fact changed in the window is
-- recomputed whole from the facts, never patched with a partial slice.
INSERT INTO gold.agg_hourly_sales AS a (store_key, hour_start, transactions, total_amount, alerts)
SELECT f.store_key, date_trunc('hour', f.event_time, 'UTC'), count(*), sum(f.amount),
       count(*) FILTER (WHERE f.is_alert)
FROM gold.fact_transactions f
WHERE (f.store_key, date_trunc('hour', f.event_time, 'UTC')) IN (
    SELECT s.store_key, date_trunc('hour', t.event_time, 'UTC')
    FROM silver.clean_transactions t JOIN gold.dim_store s ON s.store_id = t.store_id
    WHERE t.updated_at >= %(since)s AND t.updated_at < %(until)s
)
GROUP BY f.store_key, date_trunc('hour', f.event_time, 'UTC')
ON CONFLICT (store_key, hour_start) DO UPDATE SET
    transactions = EXCLUDED.transactions, total_amount = EXCLUDED.total_amount,
    alerts = EXCLUDED.alerts, refreshed_at = now()
WHERE (a.transactions, a.total_amount, a.alerts)
    IS DISTINCT FROM (EXCLUDED.transactions, EXCLUDED.total_amount, EXCLUDED.alerts);
