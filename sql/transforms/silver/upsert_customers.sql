-- silver.customers from the transactions changed in [%(since)s, %(until)s): whole-customer
-- recomputation, so re-running gives the same rows.
INSERT INTO silver.customers AS c (customer_id, first_seen, last_seen, transactions, is_blacklisted)
SELECT t.customer_id, min(t.event_time), max(t.event_time), count(*),
       coalesce(bool_or((t.rule_details -> 'FR-005' ->> 'customer_blacklisted')::boolean), false)
FROM silver.clean_transactions t
WHERE t.customer_id IN (
    SELECT customer_id FROM silver.clean_transactions
    WHERE updated_at >= %(since)s AND updated_at < %(until)s
)
GROUP BY t.customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
    transactions = EXCLUDED.transactions, is_blacklisted = EXCLUDED.is_blacklisted,
    updated_at = now()
WHERE (c.first_seen, c.last_seen, c.transactions, c.is_blacklisted)
    IS DISTINCT FROM (EXCLUDED.first_seen, EXCLUDED.last_seen, EXCLUDED.transactions,
                      EXCLUDED.is_blacklisted);
