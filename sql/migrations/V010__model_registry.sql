-- Every retraining decision: the candidate model (version, SHA-256 of its model file, what
-- it was trained on), its held-out metrics beside the served model's, and whether it was
-- promoted. The served model is the latest promoted row.
CREATE TABLE silver.model_registry (
    registry_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decided_at       timestamptz NOT NULL DEFAULT now(),
    model_version    text        NOT NULL,
    model_sha256     text        NOT NULL CHECK (model_sha256 ~ '^[0-9a-f]{64}$'),
    promoted         boolean     NOT NULL,
    reason           text        NOT NULL,
    location         text        NOT NULL,
    training         jsonb       NOT NULL DEFAULT '{}',
    metrics          jsonb       NOT NULL,
    replaced_version text,
    replaced_metrics jsonb
);
CREATE INDEX ON silver.model_registry (promoted, decided_at);
