-- gold.agg_daily_fraud: every day touched by a fact changed in the window (or an alert that
-- arrived in it), and every day a fact left (gold.pending_moved_days, captured before the
-- fact load and consumed here), is recomputed whole: alerts per rule plus 'ANY'; a touched day's rows that no
-- longer have an alert are deleted. The touched UTC days are collected first; each day's
-- facts are then read by event-time range (index), not by a scan of every fact. The
-- statement returns one row per aggregate row inserted, updated or deleted, so its row
-- count is what it changed.
WITH moved AS (
    DELETE FROM gold.pending_moved_days RETURNING day
),
days AS (
    SELECT day, to_char(day, 'YYYYMMDD')::integer AS date_key
    FROM (
        SELECT (event_time AT TIME ZONE 'UTC')::date AS day
        FROM silver.clean_transactions
        WHERE updated_at >= %(since)s AND updated_at < %(until)s
        UNION
        SELECT (event_time AT TIME ZONE 'UTC')::date
        FROM bronze.fraud_alerts
        WHERE ingested_at >= %(since)s AND ingested_at < %(until)s
        UNION
        SELECT day FROM moved
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
),
upserted AS (
    INSERT INTO gold.agg_daily_fraud AS a (date_key, rule_id, alerts, transactions, alert_amount)
    SELECT r.date_key, r.rule_id, r.alerts, coalesce(d.transactions, 0), r.alert_amount
    FROM per_rule r LEFT JOIN day_totals d USING (date_key)
    ON CONFLICT (date_key, rule_id) DO UPDATE SET
        alerts = EXCLUDED.alerts, transactions = EXCLUDED.transactions,
        alert_amount = EXCLUDED.alert_amount, refreshed_at = now()
    WHERE (a.alerts, a.transactions, a.alert_amount)
        IS DISTINCT FROM (EXCLUDED.alerts, EXCLUDED.transactions, EXCLUDED.alert_amount)
    RETURNING a.date_key, a.rule_id
),
emptied AS (
    DELETE FROM gold.agg_daily_fraud AS a
    USING days d
    WHERE a.date_key = d.date_key
      AND NOT EXISTS (
          SELECT FROM per_rule r WHERE r.date_key = a.date_key AND r.rule_id = a.rule_id
      )
    RETURNING a.date_key, a.rule_id
)
SELECT date_key, rule_id FROM upserted
UNION ALL
SELECT date_key, rule_id FROM emptied;
