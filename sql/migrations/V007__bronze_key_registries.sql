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

INSERT INTO bronze.raw_transaction_keys
SELECT DISTINCT ON (transaction_id) transaction_id, event_time FROM bronze.raw_transactions
ON CONFLICT DO NOTHING;
INSERT INTO bronze.fraud_alert_keys
SELECT DISTINCT ON (alert_id) alert_id, event_time FROM bronze.fraud_alerts
ON CONFLICT DO NOTHING;
INSERT INTO bronze.dlq_event_keys
SELECT DISTINCT ON (dlq_id) dlq_id, received_at FROM bronze.dlq_events
ON CONFLICT DO NOTHING;
