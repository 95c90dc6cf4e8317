-- gold.fact_fraud_alerts from the alerts that reached bronze in the window: an alert that
-- arrives late still lands, on the day of its transaction.
INSERT INTO gold.fact_fraud_alerts (alert_id, transaction_id, date_key, customer_key, store_key,
    event_time, amount, fraud_score, rules_triggered, rules_version, model_version)
SELECT a.alert_id, a.transaction_id, to_char(a.event_time AT TIME ZONE 'UTC', 'YYYYMMDD')::integer,
       c.customer_key, s.store_key, a.event_time, a.amount, a.fraud_score, a.rules_triggered,
       a.rules_version, a.model_version
FROM bronze.fraud_alerts a
JOIN gold.dim_customer c ON c.customer_id = a.customer_id
JOIN gold.dim_store s ON s.store_id = a.store_id
WHERE a.ingested_at >= %(since)s AND a.ingested_at < %(until)s
ON CONFLICT (alert_id) DO NOTHING;
