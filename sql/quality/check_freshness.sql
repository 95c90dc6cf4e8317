-- Minutes since silver last received a scored transaction (as of %(until)s).
SELECT
    'freshness' AS check_name,
    coalesce(extract(epoch FROM (%(until)s::timestamptz - max(updated_at))) / 60.0, 1e9)::float8
        AS measured_value,
    count(*) AS rows_checked
FROM silver.clean_transactions;
