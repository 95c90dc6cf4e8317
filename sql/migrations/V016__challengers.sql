-- Challengers in shadow (docs/rules.md, "Challengers"): a registered rules or model version
-- with role 'challenger' scores beside the champion from its effective_from (until its
-- effective_until, if any), never alerting. Its verdict is kept on each scored transaction,
-- and gold.challenger_quality compares both on the transactions decided so far.
ALTER TABLE silver.clean_transactions ADD COLUMN challenger jsonb;

ALTER TABLE silver.rules_registry
    ADD COLUMN role text NOT NULL DEFAULT 'champion' CHECK (role IN ('champion', 'challenger')),
    ADD COLUMN effective_until timestamptz,
    ADD CONSTRAINT rules_registry_shadow_ends_after_it_starts CHECK (
        effective_until IS NULL OR (role = 'challenger' AND effective_until > effective_from)
    );

ALTER TABLE silver.model_registry
    ADD COLUMN role text NOT NULL DEFAULT 'champion' CHECK (role IN ('champion', 'challenger')),
    ADD COLUMN effective_until timestamptz,
    ADD CONSTRAINT model_registry_shadow_ends_after_it_starts CHECK (
        effective_until IS NULL OR (role = 'challenger' AND effective_until > effective_from)
    );

-- Precision and recall of the champion and of its challenger on the same transactions: those
-- shadowed and decided (a verdict in silver.feedback; the latest report wins, genuine winning
-- a tie, as in the pipeline). A view: it grows as verdicts arrive.
CREATE VIEW gold.challenger_quality AS
WITH verdicts AS (
    SELECT DISTINCT ON (transaction_id) transaction_id, label = 'fraud' AS fraud
    FROM silver.feedback
    ORDER BY transaction_id, reported_at DESC, (label = 'genuine') DESC
), decided AS (
    SELECT t.challenger ->> 'rules_version' AS challenger_rules_version,
           t.challenger ->> 'model_version' AS challenger_model_version,
           t.rules_version AS champion_rules_version,
           t.model_version AS champion_model_version,
           t.event_time,
           t.is_alert AS champion_alert,
           (t.challenger ->> 'is_alert')::boolean AS challenger_alert,
           v.fraud
    FROM silver.clean_transactions t
    JOIN verdicts v USING (transaction_id)
    WHERE t.challenger IS NOT NULL
)
SELECT challenger_rules_version,
       challenger_model_version,
       champion_rules_version,
       champion_model_version,
       min(event_time) AS first_event_time,
       max(event_time) AS last_event_time,
       count(*) AS decided,
       count(*) FILTER (WHERE fraud) AS frauds,
       count(*) FILTER (WHERE champion_alert) AS champion_alerts,
       count(*) FILTER (WHERE champion_alert AND fraud) AS champion_true_alerts,
       count(*) FILTER (WHERE challenger_alert) AS challenger_alerts,
       count(*) FILTER (WHERE challenger_alert AND fraud) AS challenger_true_alerts,
       round(count(*) FILTER (WHERE champion_alert AND fraud)::numeric
             / NULLIF(count(*) FILTER (WHERE champion_alert), 0), 4) AS champion_precision,
       round(count(*) FILTER (WHERE champion_alert AND fraud)::numeric
             / NULLIF(count(*) FILTER (WHERE fraud), 0), 4) AS champion_recall,
       round(count(*) FILTER (WHERE challenger_alert AND fraud)::numeric
             / NULLIF(count(*) FILTER (WHERE challenger_alert), 0), 4) AS challenger_precision,
       round(count(*) FILTER (WHERE challenger_alert AND fraud)::numeric
             / NULLIF(count(*) FILTER (WHERE fraud), 0), 4) AS challenger_recall
FROM decided
GROUP BY challenger_rules_version, challenger_model_version,
         champion_rules_version, champion_model_version;
