-- Share of input records that went to the dead-letter queue in the window (by arrival).
-- Rows the warehouse refused (stage postgres_sink) are left out: their input is already
-- counted as valid in bronze.raw_transactions, and they are not input records of their own.
WITH counts AS (
    SELECT
        (SELECT count(*) FROM bronze.dlq_events
         WHERE received_at >= %(since)s AND received_at < %(until)s
           AND stage <> 'postgres_sink') AS dead,
        (SELECT count(*) FROM bronze.raw_transactions
         WHERE ingested_at >= %(since)s AND ingested_at < %(until)s) AS valid
)
SELECT
    'dlq_rate' AS check_name,
    CASE WHEN dead + valid = 0 THEN 0 ELSE dead::float8 / (dead + valid) END AS measured_value,
    dead + valid AS rows_checked
FROM counts;
