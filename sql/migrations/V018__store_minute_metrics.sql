-- Real-time retail metrics (docs/warehouse.md, "Store minutes"): one row per store and minute
-- of event time, upserted by the live job from the panes it publishes to metrics.realtime. A
-- late event updates its minute: the row holds the latest pane, never a sum of panes.
CREATE TABLE silver.store_minute_metrics (
    -- "<store_id>|<window_start>": the Kafka key of the pane, and the sink's business key
    window_key text PRIMARY KEY,
    store_id text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    transactions bigint NOT NULL CHECK (transactions >= 0),
    amount numeric(20, 2) NOT NULL CHECK (amount >= 0),
    alerts bigint NOT NULL CHECK (alerts >= 0),
    dead_letters bigint NOT NULL CHECK (dead_letters >= 0),
    -- {"<payment method>": "<amount>"}; transactions without one under "unknown"
    amount_by_payment_method jsonb NOT NULL,
    -- Beam's pane of the window: its index (0, 1, ...) and EARLY, ON_TIME or LATE. A replayed
    -- older pane (a restore from a checkpoint) never overwrites a newer one.
    pane_index integer NOT NULL CHECK (pane_index >= 0),
    pane_timing text NOT NULL CHECK (pane_timing IN ('EARLY', 'ON_TIME', 'LATE', 'UNKNOWN')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ON silver.store_minute_metrics (window_start);
CREATE INDEX ON silver.store_minute_metrics (store_id, window_start);
CREATE INDEX ON silver.store_minute_metrics (updated_at);

-- The console's retail dashboard reads it.
GRANT SELECT ON silver.store_minute_metrics TO streamflow_console;
