-- Bronze: what arrived, as it arrived. Append-only and idempotent: a replayed input hits the
-- unique keys and writes nothing. Partitioned by day for retention; PostgreSQL requires the
-- partition key in every unique key, so the business ids are made unique by the key
-- registries at the end of this file.
CREATE TABLE bronze.raw_transactions (
    transaction_id  text        NOT NULL,
    customer_id     text        NOT NULL,
    event_time      timestamptz NOT NULL,
    schema_version  integer     NOT NULL,
    source          text        NOT NULL,
    raw_payload     jsonb       NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, event_time),
    UNIQUE (source, event_time)
) PARTITION BY RANGE (event_time);
CREATE INDEX ON bronze.raw_transactions (ingested_at);

CREATE TABLE bronze.fraud_alerts (
    alert_id        uuid          NOT NULL,
    transaction_id  text          NOT NULL,
    customer_id     text          NOT NULL,
    store_id        text          NOT NULL,
    amount          numeric(12,2) NOT NULL CHECK (amount > 0),
    currency        char(3)       NOT NULL,
    event_time      timestamptz   NOT NULL,
    fraud_score     double precision NOT NULL CHECK (fraud_score BETWEEN 0 AND 1),
    rule_score      double precision NOT NULL CHECK (rule_score BETWEEN 0 AND 1),
    ml_score        double precision CHECK (ml_score BETWEEN 0 AND 1),
    rules_triggered text[]        NOT NULL,
    rule_details    jsonb         NOT NULL,
    explanation     text          NOT NULL,
    model_version   text,
    rules_version   text          NOT NULL,
    detected_at     timestamptz   NOT NULL,
    ingested_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, event_time)
) PARTITION BY RANGE (event_time);
CREATE INDEX ON bronze.fraud_alerts (transaction_id);
CREATE INDEX ON bronze.fraud_alerts (ingested_at);

CREATE TABLE bronze.dlq_events (
    dlq_id           text        NOT NULL,
    error_type       text        NOT NULL CHECK (error_type IN (
        'INVALID_JSON', 'NOT_AN_OBJECT', 'MISSING_FIELD', 'INVALID_FIELD',
        'UNSUPPORTED_SCHEMA', 'PAYLOAD_TOO_LARGE', 'PROCESSING_ERROR')),
    error_message    text        NOT NULL,
    stage            text        NOT NULL,
    source           text        NOT NULL,
    raw_payload      text        NOT NULL,
    truncated        boolean     NOT NULL,
    raw_size_bytes   integer     NOT NULL CHECK (raw_size_bytes >= 0),
    schema_version   integer,
    pipeline_version text        NOT NULL,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (dlq_id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX ON bronze.dlq_events (error_type, received_at);
CREATE INDEX ON bronze.dlq_events (dlq_id);

-- Business-key registries for the partitioned bronze tables. PostgreSQL puts the partition key
-- in every unique index, so a partitioned table cannot make an id unique on its own; these
-- unpartitioned tables can. A sink claims the id here (ON CONFLICT DO NOTHING RETURNING) and
-- writes the row only if the claim succeeded, in the same statement: race-free across
-- concurrent writers, one index probe per row. Maintenance prunes keys with their partitions.
CREATE TABLE bronze.raw_transaction_keys (
    transaction_id text        PRIMARY KEY,
    event_time     timestamptz NOT NULL
);
CREATE INDEX ON bronze.raw_transaction_keys (event_time);

CREATE TABLE bronze.fraud_alert_keys (
    alert_id   uuid        PRIMARY KEY,
    event_time timestamptz NOT NULL
);
CREATE INDEX ON bronze.fraud_alert_keys (event_time);

CREATE TABLE bronze.dlq_event_keys (
    dlq_id      text        PRIMARY KEY,
    received_at timestamptz NOT NULL
);
CREATE INDEX ON bronze.dlq_event_keys (received_at);
