-- The analyst console (python -m console): its users, sessions and API tokens, a case per
-- alert with its history, the verdicts as feedback rows, and the outbox its relay publishes
-- to fraud.feedback. The console connects as its own role, streamflow_console, which holds
-- only the grants below.

-- The feedback the warehouse knows: analysts' verdicts (source 'console') and, later, other
-- sources. One row per report, as on the topic; the latest report of a transaction wins, with
-- genuine winning a tie (transforms/domain/precedence.py).
CREATE TABLE silver.feedback (
    feedback_id    uuid        PRIMARY KEY,
    transaction_id text        NOT NULL CHECK (length(transaction_id) BETWEEN 1 AND 100),
    customer_id    text        NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 100),
    store_id       text        NOT NULL CHECK (length(store_id) BETWEEN 1 AND 50),
    label          text        NOT NULL CHECK (label IN ('fraud', 'genuine')),
    reported_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON silver.feedback (reported_at);
CREATE INDEX ON silver.feedback (transaction_id, reported_at);
CREATE INDEX ON silver.feedback (store_id, reported_at);

-- The store-risk panel counts a store's transactions over 1, 7 and 30 days.
CREATE INDEX ON silver.clean_transactions (store_id, event_time);

CREATE SCHEMA console;

CREATE TABLE console.users (
    user_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    role          text        NOT NULL CHECK (role IN ('viewer', 'analyst', 'supervisor')),
    password_hash text        NOT NULL,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of a token or session id is stored: they are 256-bit random values, so a
-- fast hash is enough, and a leaked table opens no session.
CREATE TABLE console.api_tokens (
    token_sha256 bytea       PRIMARY KEY CHECK (length(token_sha256) = 32),
    user_id      bigint      NOT NULL REFERENCES console.users ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE console.sessions (
    session_sha256 bytea       PRIMARY KEY CHECK (length(session_sha256) = 32),
    user_id        bigint      NOT NULL REFERENCES console.users ON DELETE CASCADE,
    csrf_token     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX ON console.sessions (expires_at);

-- Failed logins, per name and per client address, for throttling across replicas.
CREATE TABLE console.login_failures (
    name      text        NOT NULL,
    client    text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON console.login_failures (name, failed_at);
CREATE INDEX ON console.login_failures (client, failed_at);

-- One case per alert, copied from bronze.fraud_alerts by the intake (console/intake.py): a
-- case outlives the alert's 90-day partition, and the queue filters and pages on one table.
CREATE TABLE console.alert_cases (
    alert_id        uuid        PRIMARY KEY,
    transaction_id  text        NOT NULL,
    customer_id     text        NOT NULL,
    store_id        text        NOT NULL,
    amount          numeric(12, 2) NOT NULL,
    currency        char(3)     NOT NULL,
    event_time      timestamptz NOT NULL,
    fraud_score     float8      NOT NULL,
    rules_triggered text[]      NOT NULL,
    detected_at     timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'escalated', 'confirmed', 'dismissed')),
    assignee        bigint      REFERENCES console.users,
    decided_at      timestamptz,
    decided_by      bigint      REFERENCES console.users,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- The queue: riskiest, then newest first, keyset-paged on (fraud_score, event_time, alert_id).
CREATE INDEX alert_cases_queue ON console.alert_cases
    (status, fraud_score DESC, event_time DESC, alert_id DESC);
-- "Take next": the unassigned open cases in queue order.
CREATE INDEX alert_cases_unassigned ON console.alert_cases
    (fraud_score DESC, event_time DESC, alert_id DESC) WHERE status = 'open' AND assignee IS NULL;
CREATE INDEX ON console.alert_cases (customer_id, status);
CREATE INDEX ON console.alert_cases (store_id, status);
CREATE INDEX ON console.alert_cases (assignee, status);
CREATE INDEX ON console.alert_cases USING gin (rules_triggered);
CREATE INDEX ON console.alert_cases (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX ON console.alert_cases (detected_at);

-- Who did what to a case, when: the alert's history. A verdict's feedback_id ties it to its
-- feedback row and outbox record.
CREATE TABLE console.case_events (
    event_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    uuid        NOT NULL REFERENCES console.alert_cases,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       bigint      NOT NULL REFERENCES console.users,
    kind        text        NOT NULL CHECK (kind IN
                ('assigned', 'unassigned', 'escalated', 'verdict', 'reopened', 'comment')),
    label       text        CHECK (label IN ('fraud', 'genuine')),
    assignee    bigint      REFERENCES console.users,
    note        text        NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    feedback_id uuid        REFERENCES silver.feedback
);
CREATE INDEX ON console.case_events (alert_id, at);

-- Records to publish, written in the transaction that decides: the relay sends them in id
-- order and marks them sent, so nothing is lost on a crash (a repeat carries the same
-- feedback_id and changes nothing downstream).
CREATE TABLE console.outbox (
    outbox_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feedback_id uuid        NOT NULL UNIQUE REFERENCES silver.feedback,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    payload     jsonb       NOT NULL,
    timestamp_ms bigint     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_pending ON console.outbox (outbox_id) WHERE sent_at IS NULL;

-- The intake's mark: how far into bronze.fraud_alerts (by ingested_at) cases exist.
CREATE TABLE console.intake_mark (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    ingested_at timestamptz NOT NULL
);

-- The console's role: roles belong to the cluster, so a second database's migration finds it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'streamflow_console') THEN
        CREATE ROLE streamflow_console LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created by a concurrent migration of another database (advisory locks are per
           -- database): the loser of that race gets either error
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO streamflow_console', current_database());
END
$$;
GRANT USAGE ON SCHEMA console, silver, bronze TO streamflow_console;
GRANT SELECT, INSERT, UPDATE ON console.alert_cases, console.outbox, console.intake_mark
    TO streamflow_console;
-- A user's role changes only through a migration or an administrator, not the console.
GRANT SELECT, INSERT ON console.users TO streamflow_console;
GRANT UPDATE (password_hash, disabled) ON console.users TO streamflow_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON console.sessions, console.api_tokens,
    console.login_failures TO streamflow_console;
GRANT SELECT, INSERT ON console.case_events, silver.feedback TO streamflow_console;
GRANT SELECT ON bronze.fraud_alerts, bronze.dlq_events, silver.clean_transactions,
    silver.stores TO streamflow_console;
