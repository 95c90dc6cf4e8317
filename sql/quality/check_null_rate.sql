-- Share of scored transactions in the window without a location (latitude/longitude): a
-- producer that stops sending coordinates blinds the impossible-travel rule.
SELECT
    'null_rate' AS check_name,
    coalesce(avg((latitude IS NULL)::int), 0)::float8 AS measured_value,
    count(*) AS rows_checked
FROM silver.clean_transactions
WHERE event_time >= %(since)s AND event_time < %(until)s;
