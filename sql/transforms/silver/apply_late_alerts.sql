-- Alerts that reached bronze in the window mark their silver transaction as an alert: an
-- alert raised late (a replay under new rules, another detector) still reaches silver, and
-- from there gold. The higher fraud score wins and the triggered rules are merged.
UPDATE silver.clean_transactions AS t
SET is_alert = true,
    fraud_score = greatest(t.fraud_score, a.fraud_score),
    rules_triggered = ARRAY(
        SELECT DISTINCT r FROM unnest(t.rules_triggered || a.rules_triggered) AS r ORDER BY r
    ),
    updated_at = now()
FROM (
    SELECT DISTINCT ON (transaction_id) transaction_id, fraud_score, rules_triggered
    FROM bronze.fraud_alerts
    WHERE ingested_at >= %(since)s AND ingested_at < %(until)s
    ORDER BY transaction_id, fraud_score DESC
) AS a
WHERE t.transaction_id = a.transaction_id
  AND (NOT t.is_alert OR a.fraud_score > t.fraud_score
       OR NOT (a.rules_triggered <@ t.rules_triggered));
