-- gold.agg_daily_fraud: every day touched by a fact changed in the window (or an alert that
-- arrived in it) is recomputed whole: alerts per rule plus 'ANY'. The touched UTC days are
-- collected first; each day's facts are then read by event-time range (index), not by a
-- scan of every fact.
INSERT INTO gold.agg_daily_fraud AS a (date_key, rule_id, alerts, transactions, alert_amount)
WITH days AS (
    SELECT day, to_char(day, 'YYYYMMDD')::integer AS date_key
    FROM (
        SELECT (event_time AT TIME ZONE 'UTC')::date AS day
        FROM silver.clean_transactions
        WHERE updated_at >= %(since)s AND updated_at < %(until)s
        UNION
        SELECT (event_time AT TIME ZONE 'UTC')::date
        FROM bronze.fraud_alerts
        WHERE ingested_at >= %(since)s AND ingested_at < %(until)s
    ) AS touched
),
day_totals AS (
    SELECT d.date_key, count(*) AS transactions
    FROM days d JOIN gold.fact_transactions f
      ON f.event_time >= d.day::timestamp AT TIME ZONE 'UTC'
     AND f.event_time < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY d.date_key
),
per_rule AS (
    SELECT x.date_key, rule.rule_id, count(*) AS alerts, sum(x.amount) AS alert_amount
    FROM gold.fact_fraud_alerts x JOIN days USING (date_key)
    CROSS JOIN LATERAL (
        SELECT unnest(x.rules_triggered) AS rule_id UNION ALL SELECT 'ANY'
    ) AS rule
    GROUP BY x.date_key, rule.rule_id
)
SELECT r.date_key, r.rule_id, r.alerts, coalesce(d.transactions, 0), r.alert_amount
FROM per_rule r LEFT JOIN day_totals d USING (date_key)
ON CONFLICT (date_key, rule_id) DO UPDATE SET
    alerts = EXCLUDED.alerts, transactions = EXCLUDED.transactions,
    alert_amount = EXCLUDED.alert_amount, refreshed_at = now()
WHERE (a.alerts, a.transactions, a.alert_amount)
    IS DISTINCT FROM (EXCLUDED.alerts, EXCLUDED.transactions, EXCLUDED.alert_amount);
