-- silver.products from the transactions changed in the window.
INSERT INTO silver.products AS p (product_id, first_seen, last_seen)
SELECT t.product_id, min(t.event_time), max(t.event_time)
FROM silver.clean_transactions t
WHERE t.product_id IN (
    SELECT product_id FROM silver.clean_transactions
    WHERE updated_at >= %(since)s AND updated_at < %(until)s AND product_id IS NOT NULL
)
GROUP BY t.product_id
ON CONFLICT (product_id) DO UPDATE SET
    first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, updated_at = now()
WHERE (p.first_seen, p.last_seen) IS DISTINCT FROM (EXCLUDED.first_seen, EXCLUDED.last_seen);
