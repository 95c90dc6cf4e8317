-- Share of amounts outside the plausible range for a store purchase (%(max_amount)s BRL).
SELECT
    'amounts' AS check_name,
    coalesce(avg((amount > %(max_amount)s)::int), 0)::float8 AS measured_value,
    count(*) AS rows_checked
FROM silver.clean_transactions
WHERE event_time >= %(since)s AND event_time < %(until)s;
