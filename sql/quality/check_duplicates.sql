-- Transactions that look like a double submission: the same customer, store, amount and
-- event time under different transaction ids. Ids themselves are unique by construction.
SELECT
    'duplicates' AS check_name,
    coalesce(sum(copies - 1), 0)::float8 AS measured_value,
    coalesce(sum(copies), 0) AS rows_checked
FROM (
    SELECT count(*) AS copies
    FROM silver.clean_transactions
    WHERE event_time >= %(since)s AND event_time < %(until)s
    GROUP BY customer_id, store_id, amount, event_time
    HAVING count(*) > 1
) AS groups;
