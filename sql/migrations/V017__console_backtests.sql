-- Backtests a supervisor runs from the console, and the promotion of a candidate from one
-- (docs/console.md, "Versions"). The console's worker runs python -m pipelines.backtest for a
-- queued row and keeps its report; promoting registers the candidate as a rules version whose
-- row names the supervisor (author) and the backtest (backtest = 'console:<id>'), published to
-- the rules topic as python -m pipelines.rules register does.
CREATE TABLE console.backtests (
    backtest_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    requested_by     bigint      NOT NULL REFERENCES console.users (user_id),
    requested_at     timestamptz NOT NULL DEFAULT now(),
    candidate_rules  text        NOT NULL,
    candidate_version text       NOT NULL CHECK (candidate_version ~ '^rules-[0-9a-f]{12}$'),
    from_day         date        NOT NULL,
    to_day           date        NOT NULL CHECK (to_day >= from_day),
    note             text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed')),
    started_at       timestamptz,
    -- Renewed while a console's worker runs it: a stale one is claimed again (its console
    -- stopped or died).
    heartbeat_at     timestamptz,
    finished_at      timestamptz,
    output_dir       text,
    report           jsonb,
    error            text,
    promoted_as      bigint      REFERENCES silver.rules_registry (registration_id),
    promoted_by      bigint      REFERENCES console.users (user_id),
    promoted_at      timestamptz
);
CREATE INDEX ON console.backtests (status, requested_at);

-- Once published, a version stays published: the jobs have been told it (any role).
CREATE FUNCTION silver.rules_registry_published_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.published_at IS NOT NULL AND NEW.published_at IS DISTINCT FROM OLD.published_at THEN
        RAISE EXCEPTION 'rules registration % was published at %: it stays so',
            OLD.registration_id, OLD.published_at;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER published_once BEFORE UPDATE OF published_at ON silver.rules_registry
    FOR EACH ROW EXECUTE FUNCTION silver.rules_registry_published_once();

GRANT USAGE ON SCHEMA gold TO streamflow_console;
GRANT SELECT, INSERT, UPDATE ON console.backtests TO streamflow_console;
-- Promotion writes the registry row and marks it published; it never rewrites or deletes one
-- (a version the broker refused stays unpublished, which export skips).
GRANT SELECT, INSERT ON silver.rules_registry TO streamflow_console;
GRANT UPDATE (published_at) ON silver.rules_registry TO streamflow_console;
-- The champion a backtest compares with: the registered rules and model versions.
GRANT SELECT ON silver.model_registry, gold.challenger_quality TO streamflow_console;
