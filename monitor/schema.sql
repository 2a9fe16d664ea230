-- The monitor's spans (telemetry, not evidence: the access records are the evidence).
CREATE SCHEMA IF NOT EXISTS monitor;

CREATE TABLE IF NOT EXISTS monitor.span (
    trace_id        text        NOT NULL,
    span_id         text        NOT NULL,
    parent_id       text        NOT NULL,
    source          text        NOT NULL,  -- the broker-vouched identity that sent it
    name            text        NOT NULL,
    kind            smallint    NOT NULL,
    status          smallint    NOT NULL,
    start_ns        bigint      NOT NULL,
    end_ns          bigint      NOT NULL,
    conversation_id text,                  -- the query id
    requester       text,
    provider        text,
    affair          text,
    outcome         text,
    -- json, not jsonb: kept as written (no conversion on the write path); a console reads
    -- them whole, and searches use the columns above
    attributes      json        NOT NULL,
    events          json        NOT NULL
);

CREATE INDEX IF NOT EXISTS span_trace ON monitor.span (trace_id);
-- retention: spans arrive roughly in start order, so a BRIN index is enough and costs next to
-- nothing to keep up
CREATE INDEX IF NOT EXISTS span_start ON monitor.span USING brin (start_ns);
-- a console's searches start from the hub's own span of each flow
CREATE INDEX IF NOT EXISTS span_hub_in ON monitor.span (start_ns)
    WHERE name = 'process hub.requests' AND source = 'hub';

-- The console's officials (monitor/console/officials.py): a password as scrypt, a TOTP secret,
-- the last TOTP step used (a code works once). Made by `renkei officials add`.
CREATE TABLE IF NOT EXISTS monitor.official (
    name          text        PRIMARY KEY,
    role          text        NOT NULL CHECK (role IN ('operator', 'auditor')),
    password_hash text        NOT NULL,
    totp_secret   text        NOT NULL,
    last_step     bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Every console action (sign-in, failed sign-in, search, view …), append-only: the trigger
-- refuses UPDATE and DELETE, so an official cannot take back what they did.
CREATE TABLE IF NOT EXISTS monitor.console_action (
    seq      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    official text        NOT NULL,
    role     text        NOT NULL,
    action   text        NOT NULL,
    detail   text        NOT NULL,
    outcome  text        NOT NULL,
    client   text        NOT NULL
);

CREATE OR REPLACE FUNCTION monitor.console_action_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'monitor.console_action is append-only';
END $$;

DROP TRIGGER IF EXISTS console_action_append_only ON monitor.console_action;
CREATE TRIGGER console_action_append_only BEFORE UPDATE OR DELETE ON monitor.console_action
    FOR EACH ROW EXECUTE FUNCTION monitor.console_action_append_only();
-- The anomaly engine's alerts (monitor.alerts): one open alert per rule and subject, repeats
-- counted; an auditor's acknowledgement closes it (who and when, kept).
CREATE TABLE IF NOT EXISTS monitor.alert (
    id        uuid        PRIMARY KEY,
    rule      text        NOT NULL,
    subject   text        NOT NULL,  -- an office code, or 'records' (the chain)
    severity  text        NOT NULL,
    summary   text        NOT NULL,
    facts     jsonb       NOT NULL,  -- counts, offices, record ids: never a person
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    count     integer     NOT NULL DEFAULT 1,
    acked_by  text,
    acked_at  timestamptz,
    CHECK ((acked_by IS NULL) = (acked_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS alert_open ON monitor.alert (rule, subject)
    WHERE acked_at IS NULL;
CREATE INDEX IF NOT EXISTS alert_last ON monitor.alert (last_at);
