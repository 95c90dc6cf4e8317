-- Every registered rules version (python -m pipelines.rules register): the complete rules
-- file, its SHA-256 and content version, the instant it takes effect at, who registered it,
-- why, and from which backtest. The job reads the versions from the compacted rules topic;
-- this table is the audit and the source of a replay's --rules_changes file.
CREATE TABLE silver.rules_registry (
    registration_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rules_version   text        NOT NULL CHECK (rules_version ~ '^rules-[0-9a-f]{12}$'),
    rules_sha256    text        NOT NULL CHECK (rules_sha256 ~ '^[0-9a-f]{64}$'),
    rules_text      text        NOT NULL,
    effective_from  timestamptz NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    author          text        NOT NULL CHECK (author <> ''),
    note            text        NOT NULL DEFAULT '',
    backtest        text,
    published_at    timestamptz,
    CHECK (effective_from > registered_at)
);
CREATE INDEX ON silver.rules_registry (effective_from, registered_at);
