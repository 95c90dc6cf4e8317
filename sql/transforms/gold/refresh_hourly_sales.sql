-- gold.agg_hourly_sales: every (store, hour) touched by a fact changed in the window is
-- recomputed whole from the facts, never patched with a partial slice. The touched pairs are
-- collected first (a few thousand), then the facts are hash-joined on them. date_bin from a
-- UTC midnight is the UTC hour, without date_trunc(..., 'UTC')'s time-zone lookup per row.
INSERT INTO gold.agg_hourly_sales AS a (store_key, hour_start, transactions, total_amount, alerts)
WITH touched AS (
    SELECT DISTINCT s.store_key,
           date_bin('1 hour', t.event_time, '2000-01-01T00:00:00Z') AS hour_start
    FROM silver.clean_transactions t JOIN gold.dim_store s ON s.store_id = t.store_id
    WHERE t.updated_at >= %(since)s AND t.updated_at < %(until)s
)
SELECT h.store_key, h.hour_start, count(*), sum(f.amount), count(*) FILTER (WHERE f.is_alert)
FROM touched h
JOIN gold.fact_transactions f
  ON f.store_key = h.store_key
 AND date_bin('1 hour', f.event_time, '2000-01-01T00:00:00Z') = h.hour_start
GROUP BY h.store_key, h.hour_start
ON CONFLICT (store_key, hour_start) DO UPDATE SET
    transactions = EXCLUDED.transactions, total_amount = EXCLUDED.total_amount,
    alerts = EXCLUDED.alerts, refreshed_at = now()
WHERE (a.transactions, a.total_amount, a.alerts)
    IS DISTINCT FROM (EXCLUDED.transactions, EXCLUDED.total_amount, EXCLUDED.alerts);
