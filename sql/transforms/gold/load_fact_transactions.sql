-- gold.fact_transactions: upsert of the silver rows changed in the window (late scores and
-- corrected resends included).
INSERT INTO gold.fact_transactions AS f (transaction_id, date_key, customer_key, store_key,
    product_key, event_time, amount, currency, payment_method, fraud_score, is_alert)
SELECT t.transaction_id, to_char(t.event_time AT TIME ZONE 'UTC', 'YYYYMMDD')::integer,
       c.customer_key, s.store_key, p.product_key, t.event_time, t.amount, t.currency,
       t.payment_method, t.fraud_score, t.is_alert
FROM silver.clean_transactions t
JOIN gold.dim_customer c ON c.customer_id = t.customer_id
JOIN gold.dim_store s ON s.store_id = t.store_id
LEFT JOIN gold.dim_product p ON p.product_id = t.product_id
WHERE t.updated_at >= %(since)s AND t.updated_at < %(until)s
ON CONFLICT (transaction_id) DO UPDATE SET
    date_key = EXCLUDED.date_key, customer_key = EXCLUDED.customer_key,
    store_key = EXCLUDED.store_key, product_key = EXCLUDED.product_key,
    event_time = EXCLUDED.event_time, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
    payment_method = EXCLUDED.payment_method, fraud_score = EXCLUDED.fraud_score,
    is_alert = EXCLUDED.is_alert
WHERE (f.date_key, f.store_key, f.event_time, f.amount, f.fraud_score, f.is_alert)
    IS DISTINCT FROM (EXCLUDED.date_key, EXCLUDED.store_key, EXCLUDED.event_time,
                      EXCLUDED.amount, EXCLUDED.fraud_score, EXCLUDED.is_alert);
