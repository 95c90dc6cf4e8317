-- gold.dim_date covers every day on which a changed transaction happened (UTC days).
INSERT INTO gold.dim_date (date_key, full_date, year, quarter, month, day, day_of_week, is_weekend)
SELECT DISTINCT
    to_char(d, 'YYYYMMDD')::integer, d, extract(year FROM d), extract(quarter FROM d),
    extract(month FROM d), extract(day FROM d), extract(isodow FROM d),
    extract(isodow FROM d) IN (6, 7)
FROM (
    SELECT (event_time AT TIME ZONE 'UTC')::date AS d FROM silver.clean_transactions
    WHERE updated_at >= %(since)s AND updated_at < %(until)s
    UNION
    SELECT (event_time AT TIME ZONE 'UTC')::date FROM bronze.fraud_alerts
    WHERE ingested_at >= %(since)s AND ingested_at < %(until)s
) AS days
ON CONFLICT (date_key) DO NOTHING;
