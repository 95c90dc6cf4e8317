-- Gold: a star schema for analysts. Surrogate keys on dimensions; facts keyed by the
-- business id so refreshes are idempotent upserts.
CREATE TABLE gold.dim_date (
    date_key     integer PRIMARY KEY,          -- YYYYMMDD
    full_date    date    NOT NULL UNIQUE,
    year         smallint NOT NULL,
    quarter      smallint NOT NULL,
    month        smallint NOT NULL,
    day          smallint NOT NULL,
    day_of_week  smallint NOT NULL,            -- ISO: 1 = Monday
    is_weekend   boolean  NOT NULL
);

CREATE TABLE gold.dim_customer (
    customer_key   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id    text    NOT NULL UNIQUE,
    first_seen     timestamptz NOT NULL,
    is_blacklisted boolean NOT NULL
);

CREATE TABLE gold.dim_store (
    store_key      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id       text    NOT NULL UNIQUE,
    latitude       double precision,
    longitude      double precision,
    is_blacklisted boolean NOT NULL
);

CREATE TABLE gold.dim_product (
    product_key    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id     text   NOT NULL UNIQUE
);

CREATE TABLE gold.fact_transactions (
    transaction_id text          PRIMARY KEY,
    date_key       integer       NOT NULL REFERENCES gold.dim_date,
    customer_key   bigint        NOT NULL REFERENCES gold.dim_customer,
    store_key      bigint        NOT NULL REFERENCES gold.dim_store,
    product_key    bigint        REFERENCES gold.dim_product,
    event_time     timestamptz   NOT NULL,
    amount         numeric(12,2) NOT NULL,
    currency       char(3)       NOT NULL,
    payment_method text,
    fraud_score    double precision NOT NULL,
    is_alert       boolean       NOT NULL
);
CREATE INDEX ON gold.fact_transactions (event_time);
CREATE INDEX ON gold.fact_transactions (store_key, event_time);

CREATE TABLE gold.fact_fraud_alerts (
    alert_id        uuid          PRIMARY KEY,
    transaction_id  text          NOT NULL,
    date_key        integer       NOT NULL REFERENCES gold.dim_date,
    customer_key    bigint        NOT NULL REFERENCES gold.dim_customer,
    store_key       bigint        NOT NULL REFERENCES gold.dim_store,
    event_time      timestamptz   NOT NULL,
    amount          numeric(12,2) NOT NULL,
    fraud_score     double precision NOT NULL,
    rules_triggered text[]        NOT NULL,
    rules_version   text          NOT NULL,
    model_version   text
);
CREATE INDEX ON gold.fact_fraud_alerts (date_key);

CREATE TABLE gold.agg_hourly_sales (
    store_key          bigint      NOT NULL REFERENCES gold.dim_store,
    hour_start         timestamptz NOT NULL,
    transactions       bigint      NOT NULL,
    total_amount       numeric(16,2) NOT NULL,
    alerts             bigint      NOT NULL,
    refreshed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_key, hour_start)
);
CREATE INDEX ON gold.agg_hourly_sales (hour_start);

CREATE TABLE gold.agg_daily_fraud (
    date_key        integer NOT NULL REFERENCES gold.dim_date,
    rule_id         text    NOT NULL,           -- 'FR-001'..'FR-006', or 'ANY'
    alerts          bigint  NOT NULL,
    transactions    bigint  NOT NULL,
    alert_amount    numeric(16,2) NOT NULL,
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (date_key, rule_id)
);
