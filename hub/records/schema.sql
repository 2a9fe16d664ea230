-- Access records (情報提供等記録): schema for hub.records.PgRecordStore.
-- "{schema}" is replaced by the (validated, quoted) schema name.  Idempotent: migrate() runs
-- it under an advisory lock, so several hub workers may start at once.

CREATE SCHEMA IF NOT EXISTS {schema};

-- One row per query (first outcome wins).  seq is the position in the hash chain: 1-based,
-- contiguous, assigned under pg_advisory_xact_lock by the appending transaction.
CREATE TABLE IF NOT EXISTS {schema}.access_record (
    seq          bigint      PRIMARY KEY CHECK (seq > 0),
    record_id    uuid        NOT NULL UNIQUE,
    query_id     uuid        NOT NULL UNIQUE,
    requester    text        NOT NULL,
    provider     text        NOT NULL,
    affair       text        NOT NULL,
    items        text[]      NOT NULL,
    asked_at     timestamptz NOT NULL,
    answered_at  timestamptz NOT NULL,
    outcome      text        NOT NULL
        CHECK (outcome IN ('ok', 'refused', 'not_found', 'error', 'timed_out')),
    reason       text        NOT NULL,
    person       text        NOT NULL,   -- the hub's own token for the person, '' if unknown
    query_digest bytea       NOT NULL,
    reply_digest bytea       NOT NULL,
    prev_hash    bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- the hub's seal: a checkpoint over (seq, hash, sealed_at), on the last record of a batch
    sealed_at    timestamptz,
    seal         bytea
);
-- (tables made before seals existed get the two columns here)
ALTER TABLE {schema}.access_record ADD COLUMN IF NOT EXISTS sealed_at timestamptz;
ALTER TABLE {schema}.access_record ADD COLUMN IF NOT EXISTS seal bytea;
CREATE INDEX IF NOT EXISTS access_record_person_idx ON {schema}.access_record (person, seq);

-- The hub's Ed25519 signatures over (seq, hash, signed_at) of the record chain and over the
-- disclosure-flag log's head (flag_seq, flag_hash) at that moment.
CREATE TABLE IF NOT EXISTS {schema}.checkpoint (
    seq        bigint      NOT NULL,
    hash       bytea       NOT NULL,
    signed_at  timestamptz NOT NULL,
    signature  bytea       NOT NULL,
    flag_seq   bigint      NOT NULL,
    flag_hash  bytea       NOT NULL,
    PRIMARY KEY (seq, flag_seq)
);

-- The non-disclosure flag log: its own hash chain, every entry signed.  A record's current
-- flag is that of its latest change (false when it has none).
CREATE TABLE IF NOT EXISTS {schema}.disclosure_flag (
    change_seq    bigint      PRIMARY KEY CHECK (change_seq > 0),
    record_id     uuid        NOT NULL REFERENCES {schema}.access_record (record_id),
    not_disclosed boolean     NOT NULL,
    changed_at    timestamptz NOT NULL,
    actor         text        NOT NULL,
    reason        text        NOT NULL,
    prev_hash     bytea       NOT NULL,
    hash          bytea       NOT NULL,
    signature     bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS disclosure_flag_record_idx
    ON {schema}.disclosure_flag (record_id, change_seq DESC);
-- A flag set with an end (the legal maximum period) stops withholding the record then.
ALTER TABLE {schema}.disclosure_flag ADD COLUMN IF NOT EXISTS withheld_until timestamptz;

-- Query claims: a query's key (its record key) is claimed when it arrives, before anything is
-- forwarded, so a second copy is refused by every hub worker.  Not evidence: kept only as
-- long as the hub's issued-at window needs (hub.records.claims), then deleted.
CREATE TABLE IF NOT EXISTS {schema}.query_claim (
    key        uuid        PRIMARY KEY,
    digest     bytea       NOT NULL,
    claimed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS query_claim_at_idx ON {schema}.query_claim (claimed_at);

-- Pending deadlines (hub.records.deadlines): a forwarded query's record key, its deadline, and
-- its routing context sealed for the hub alone.  Written (durably) beside the forward; every hub
-- process's sweeper takes the due rows, finishes those without an access record as timed out,
-- and deletes them all.  Not evidence.
CREATE TABLE IF NOT EXISTS {schema}.pending_deadline (
    key      uuid        PRIMARY KEY,
    deadline timestamptz NOT NULL,
    context  text        NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_deadline_at_idx ON {schema}.pending_deadline (deadline);

-- Claim the keys neither claimed nor recorded yet; returns them.  A function for its plan: a
-- statement sent with a one-key array is planned anew at every call (the custom plan looks
-- cheaper); here the plan is generic and kept, for the session's life.  Planned on a new
-- deployment's empty table, the cheapest check looked like hashing the whole table, and that
-- plan was kept while the table grew (every claim then read every record: 7–8 ms a claim at
-- 50,000, bench/plan_bench.py).  With the settings below, a plan made on a table never analyzed looks each key up
-- by index; one made on a table analyzed while empty still reads it whole until the next
-- ANALYZE (autovacuum must stay on).  A claim is not evidence: its commit need not wait for the WAL flush (a crash of PostgreSQL loses at
-- most the last few hundred ms of claims; the records themselves stay synchronous).
CREATE OR REPLACE FUNCTION {schema}.claim_queries(keys uuid[], digests bytea[], at timestamptz)
RETURNS SETOF uuid LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- until this transaction commits
    RETURN QUERY INSERT INTO {schema}.query_claim AS c (key, digest, claimed_at)
        SELECT t.key, t.digest, at FROM unnest(keys, digests) AS t(key, digest)
        WHERE NOT EXISTS (SELECT 1 FROM {schema}.access_record r WHERE r.query_id = t.key)
        ON CONFLICT (key) DO NOTHING RETURNING c.key;
END
$$;

-- What took the keys a claim found taken (a replay, a redelivery: rare): the earlier claim's
-- digest, and whether a record exists (n: the key's place in keys).  A function for its plan:
-- sent as a statement, it turned to a generic plan made while the tables were empty, which read
-- both whole tables on every call, kept as they grew.  Rare enough to be planned at each call,
-- for the tables as they are then (a kept plan made on tables analyzed empty reads them whole
-- whatever the enable_* settings say).
CREATE OR REPLACE FUNCTION {schema}.claimed_keys(keys uuid[])
RETURNS TABLE (n bigint, digest bytea, recorded boolean) LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    RETURN QUERY SELECT k.n, c.digest,
        EXISTS (SELECT 1 FROM {schema}.access_record r WHERE r.query_id = k.key)
        FROM unnest(keys) WITH ORDINALITY AS k(key, n)
        LEFT JOIN {schema}.query_claim c ON c.key = k.key;
END
$$;

-- Held replies (hub.records.held): an answer the hub made itself (the portal's disclosure),
-- as sent — its payload sealed for the requester — under the query's record key and the
-- record's reply digest, so a request redelivered after the record finds its reply.  Not
-- evidence, no content in clear: deleted once past kept_until (the query's deadline and a
-- slack).  Committed without waiting for the WAL flush: the query's record, committed
-- synchronously after it, flushes it.
CREATE TABLE IF NOT EXISTS {schema}.held_reply (
    key        uuid        NOT NULL,
    digest     bytea       NOT NULL CHECK (octet_length(digest) = 32),
    body       bytea       NOT NULL,
    kept_until timestamptz NOT NULL,
    PRIMARY KEY (key, digest)
);
CREATE INDEX IF NOT EXISTS held_reply_until_idx ON {schema}.held_reply (kept_until);

CREATE OR REPLACE FUNCTION {schema}.hold_replies(
    keys uuid[], digests bytea[], bodies bytea[], untils timestamptz[]
) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- until this transaction commits
    INSERT INTO {schema}.held_reply (key, digest, body, kept_until)
        SELECT * FROM unnest(keys, digests, bodies, untils)
        ON CONFLICT (key, digest) DO NOTHING;
END
$$;

-- Query quotas (hub.records.quotas): one token bucket per office (or office and affair), shared
-- by every hub process.  Not evidence: a level and when it was counted.  take_quota takes up to
-- want[i] tokens from bucket keys[i] (refilled at rates[i] a second up to bursts[i]) and returns
-- how many each gave and what it holds after: one call per batch, each row updated atomically
-- (an UPDATE's SET reads the row it locks: concurrent hub processes never take a token twice).
-- Its kept plan looks buckets up by key when made on a table never analyzed (as the
-- claim's: planned on an empty table, it hashed every bucket on every call, and the buckets
-- are updated on every query, so the table holds their old versions too until vacuumed).
CREATE TABLE IF NOT EXISTS {schema}.quota_bucket (
    key    text             PRIMARY KEY,
    tokens double precision NOT NULL,
    at     timestamptz      NOT NULL,
    given  integer          NOT NULL DEFAULT 0
);

CREATE OR REPLACE FUNCTION {schema}.take_quota(
    keys text[], wants integer[], bursts double precision[], rates double precision[],
    now timestamptz
) RETURNS TABLE (key text, given integer, tokens double precision)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- not evidence, as the claims
    INSERT INTO {schema}.quota_bucket AS b (key, tokens, at)
        SELECT t.key, t.burst, now FROM unnest(keys, bursts) AS t(key, burst)
        ON CONFLICT ON CONSTRAINT quota_bucket_pkey DO NOTHING;
    RETURN QUERY UPDATE {schema}.quota_bucket AS b SET
        given = LEAST(t.want, GREATEST(0, floor(
            LEAST(t.burst, b.tokens + GREATEST(0, extract(epoch FROM now - b.at)) * t.rate)
        )))::integer,
        tokens = LEAST(t.burst, b.tokens + GREATEST(0, extract(epoch FROM now - b.at)) * t.rate)
            - LEAST(t.want, GREATEST(0, floor(
                LEAST(t.burst, b.tokens + GREATEST(0, extract(epoch FROM now - b.at)) * t.rate)
            ))),
        at = GREATEST(b.at, now)
        FROM unnest(keys, wants, bursts, rates) AS t(key, want, burst, rate)
        WHERE b.key = t.key
        RETURNING b.key, b.given, b.tokens;
END
$$;

-- Append-only: every row of these three tables is evidence.  The triggers hold even for the
-- table owner (who can disable them: verification then notices what was done); the hub's own
-- role gets SELECT and INSERT only (PgRecordStore.migrate(writer_role=...), see README).
CREATE OR REPLACE FUNCTION {schema}.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'renkei records: % on %.% refused: access records are append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = 'records are never changed or removed';
END
$$;

-- A fast append (one COPY onto the head its worker wrote last, with no lock statement) takes
-- the append lock shared inside its own statement; a locked append holds it exclusive from its
-- head read to its commit.  So a locked append is never overtaken (it would collide on seq and
-- start again: under steady fast appends from another worker, for ever), and fast appends of
-- two workers still run side by side (the loser collides and goes locked).
CREATE OR REPLACE FUNCTION {schema}.share_append_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({lock_key});
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER append_lock BEFORE INSERT ON {schema}.access_record
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.share_append_lock();
CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {schema}.access_record
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE OR REPLACE TRIGGER no_truncate BEFORE TRUNCATE ON {schema}.access_record
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {schema}.checkpoint
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE OR REPLACE TRIGGER no_truncate BEFORE TRUNCATE ON {schema}.checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {schema}.disclosure_flag
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE OR REPLACE TRIGGER no_truncate BEFORE TRUNCATE ON {schema}.disclosure_flag
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
