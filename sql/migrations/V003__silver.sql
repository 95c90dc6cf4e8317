-- Silver: typed, deduplicated, scored; one row per transaction id.
CREATE TABLE silver.clean_transactions (
    transaction_id  text          PRIMARY KEY,
    customer_id     text          NOT NULL,
    store_id        text          NOT NULL,
    product_id      text,
    amount          numeric(12,2) NOT NULL CHECK (amount > 0),
    currency        char(3)       NOT NULL,
    payment_method  text,
    latitude        double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude       double precision CHECK (longitude BETWEEN -180 AND 180),
    event_time      timestamptz   NOT NULL,
    schema_version  integer       NOT NULL,
    fraud_score     double precision NOT NULL CHECK (fraud_score BETWEEN 0 AND 1),
    rule_score      double precision NOT NULL CHECK (rule_score BETWEEN 0 AND 1),
    ml_score        double precision CHECK (ml_score BETWEEN 0 AND 1),
    rules_triggered text[]        NOT NULL DEFAULT '{}',
    rule_details    jsonb         NOT NULL DEFAULT '{}',
    is_alert        boolean       NOT NULL,
    model_version   text,
    rules_version   text          NOT NULL,
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
-- Gold refreshes recompute whole hours/days of event time; freshness checks read updated_at.
CREATE INDEX ON silver.clean_transactions (event_time);
CREATE INDEX ON silver.clean_transactions (customer_id, event_time);
CREATE INDEX ON silver.clean_transactions (updated_at);

CREATE TABLE silver.customers (
    customer_id      text PRIMARY KEY,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    transactions     bigint      NOT NULL,
    is_blacklisted   boolean     NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE silver.stores (
    store_id         text PRIMARY KEY,
    latitude         double precision,
    longitude        double precision,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    is_blacklisted   boolean     NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE silver.products (
    product_id       text PRIMARY KEY,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE silver.quality_check_results (
    check_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_name      text             NOT NULL,
    measured_value  double precision NOT NULL,
    warn_threshold  double precision,
    fail_threshold  double precision,
    status          text             NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    details         jsonb            NOT NULL DEFAULT '{}',
    checked_at      timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX ON silver.quality_check_results (check_name, checked_at DESC);
