-- What the orchestration reports: task failures and successes, DLQ-rate alerts, model
-- promotions, missed deadlines. Airflow's notifier writes one row per notification, so the
-- warehouse keeps the operational history next to the data it is about.
CREATE TABLE silver.ops_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    kind         text        NOT NULL,
    severity     text        NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    dag_id       text,
    run_id       text,
    task_id      text,
    message      text        NOT NULL,
    details      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX ON silver.ops_events (occurred_at);
CREATE INDEX ON silver.ops_events (kind, occurred_at);
