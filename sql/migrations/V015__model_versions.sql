-- A model version registered to take effect at an instant (python -m pipelines.models
-- register): the row holds the artifact's location and SHA-256, who registered it, why and
-- from which backtest; the job reads it from the rules topic (a "kind": "model" record) and
-- switches at effective_from, live and on replay. Rows of ml.promote's decisions keep
-- effective_from null: they change what the next launched job reads, not a running one.
ALTER TABLE silver.model_registry
    ADD COLUMN effective_from timestamptz,
    ADD COLUMN author         text,
    ADD COLUMN note           text NOT NULL DEFAULT '',
    ADD COLUMN backtest       text,
    ADD COLUMN published_at   timestamptz,
    ADD CONSTRAINT model_registry_registered_version CHECK (
        effective_from IS NULL
        OR (promoted AND effective_from > decided_at AND coalesce(author, '') <> '')
    );
CREATE INDEX ON silver.model_registry (effective_from, decided_at)
    WHERE effective_from IS NOT NULL;
