-- The aggregate buckets a corrected fact left, kept until the aggregate that owns them has
-- recomputed them. They used to live in a temporary table of the refresh transaction; as
-- tables, the fact load and each aggregate can run as separate tasks (the silver_to_gold
-- DAG): the fact load adds rows, each aggregate step deletes the rows it recomputed in the
-- same statement, and a failed aggregate leaves them for its retry.
CREATE TABLE gold.pending_moved_hours (
    store_key   bigint      NOT NULL,
    hour_start  timestamptz NOT NULL,
    PRIMARY KEY (store_key, hour_start)
);

CREATE TABLE gold.pending_moved_days (
    day  date PRIMARY KEY
);
