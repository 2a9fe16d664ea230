"""SQL text and row shapes for `PgRecordStore` (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

from hub.records.model import AccessRecord, Checkpoint, FlagChange

__all__ = [
    "READER_POWERS",
    "RECORD_COLUMNS",
    "TABLES",
    "WRITER_POWERS",
    "WRITER_ROLE",
    "Statements",
    "cp_row",
    "flag_row",
    "grants",
    "record_row",
    "statements",
]

RECORD_COLUMNS: Final = (
    "seq",
    "record_id",
    "query_id",
    "requester",
    "provider",
    "affair",
    "items",
    "asked_at",
    "answered_at",
    "outcome",
    "reason",
    "person",
    "query_digest",
    "reply_digest",
    "prev_hash",
    "hash",
    "sealed_at",
    "seal",
)


TABLES: Final = ("access_record", "checkpoint", "disclosure_flag")

# The role the hub writes with: quoted by the server, and whether it is all-powerful anyway.
WRITER_ROLE: Final = (
    "SELECT quote_ident(rolname) AS ident, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1"
)
# After the grants: which tables it could still change beyond appending (as their owner, a
# member of the owner, or through any role it belongs to), and whether it owns the schema.
_POWERS: Final = (
    "SELECT pg_has_role($1, n.nspowner, 'MEMBER') AS owns_schema,"
    " ARRAY(SELECT t FROM unnest($3::text[]) t WHERE has_table_privilege($1,"
    " format('%I.%I', $2::text, t), '{rights}')) AS beyond"
    " FROM pg_namespace n WHERE n.nspname = $2"
)
WRITER_POWERS: Final = _POWERS.replace("{rights}", "UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES")
# A reader (the monitor's role) may not even append.
READER_POWERS: Final = _POWERS.replace(
    "{rights}", "INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES"
)


def grants(quoted_schema: str, ident: str, *, reader: bool = False) -> str:
    """The writer (the hub): SELECT and INSERT on the three tables of evidence, USAGE on the
    schema, on the query claims, the held replies and the pending deadlines (not evidence:
    deleted once done with) SELECT, INSERT, DELETE — and UPDATE of the deadlines' ``deadline``
    column, which their sweep's ``FOR UPDATE`` needs (PostgreSQL asks for UPDATE on one column
    to lock a row; nothing updates it, and a role that may delete the row can do no more by
    moving it) — and on the quota buckets (not evidence: a level per office) SELECT, INSERT,
    UPDATE. A ``reader`` (the monitor): USAGE and SELECT on the three tables, not the claims,
    held replies, deadlines nor buckets. Nothing else (the role and the schema are quoted
    already; one simple-protocol batch)."""
    tables = ", ".join(f"{quoted_schema}.{t}" for t in TABLES)
    deadlines = f"{quoted_schema}.pending_deadline"
    claims = f"{quoted_schema}.query_claim, {quoted_schema}.held_reply, {deadlines}"
    quotas = f"{quoted_schema}.quota_bucket"
    done = (
        f"REVOKE ALL ON SCHEMA {quoted_schema} FROM {ident};"
        f" GRANT USAGE ON SCHEMA {quoted_schema} TO {ident};"
        f" REVOKE ALL ON {tables}, {claims}, {quotas} FROM {'' if reader else 'PUBLIC, '}{ident};"
    )
    if reader:
        return done + f" GRANT SELECT ON {tables} TO {ident}"
    return (
        done + f" GRANT SELECT, INSERT ON {tables} TO {ident};"
        f" GRANT SELECT, INSERT, DELETE ON {claims} TO {ident};"
        f" GRANT UPDATE (deadline) ON {deadlines} TO {ident};"
        f" GRANT SELECT, INSERT, UPDATE ON {quotas} TO {ident}"
    )


def record_row(r: AccessRecord) -> tuple[Any, ...]:
    """A record as a COPY row, in `RECORD_COLUMNS` order."""
    return (
        r.seq,
        r.record_id,
        r.query_id,
        r.requester,
        r.provider,
        r.affair,
        list(r.items),
        r.asked_at,
        r.answered_at,
        r.outcome,
        r.reason,
        r.person,
        r.query_digest,
        r.reply_digest,
        r.prev_hash,
        r.hash,
        r.seal.signed_at if r.seal else None,
        r.seal.signature if r.seal else None,
    )


def cp_row(c: Checkpoint) -> tuple[Any, ...]:
    return (c.seq, c.hash, c.signed_at, c.signature, c.flag_seq, c.flag_hash)


def flag_row(c: FlagChange) -> tuple[Any, ...]:
    return (
        c.change_seq,
        c.record_id,
        c.not_disclosed,
        c.changed_at,
        c.actor,
        c.reason,
        c.prev_hash,
        c.hash,
        c.signature,
        c.withheld_until,
    )


@dataclass(frozen=True, slots=True)
class Statements:
    head: str
    exists: str
    recorded: str
    record_exists: str
    for_person: str
    all_records: str
    between: str
    flagged: str
    count: str
    checkpoints: str
    checkpoint_at: str
    insert_checkpoint: str
    flag_head: str
    flag_changes: str
    insert_flag: str
    insert_record: str
    claim: str
    claimed: str
    forget_claims: str
    hold_replies: str
    held_reply: str
    forget_held: str


# Templates; "{s}" becomes the schema name, which PgRecordStore has checked is a plain
# identifier (and quotes), so nothing from outside reaches the SQL text.
_TEMPLATES: Final = Statements(
    # the head, its seal, the newest checkpoint at it, and which query ids are taken
    head=(
        "SELECT h.seq, h.hash, h.sealed_at, h.seal, c.hash AS cp_hash, c.signed_at AS cp_at,"
        " c.signature AS cp_signature, c.flag_seq AS cp_flag_seq, c.flag_hash AS cp_flag_hash,"
        " ARRAY(SELECT query_id FROM {s}.access_record WHERE query_id = ANY($1::uuid[])) AS dup"
        " FROM (SELECT 1) one LEFT JOIN LATERAL"
        " (SELECT seq, hash, sealed_at, seal FROM {s}.access_record ORDER BY seq DESC LIMIT 1) h"
        " ON true LEFT JOIN LATERAL (SELECT hash, signed_at, signature, flag_seq, flag_hash"
        " FROM {s}.checkpoint WHERE seq = h.seq ORDER BY flag_seq DESC LIMIT 1) c ON true"
    ),
    exists="SELECT query_id FROM {s}.access_record WHERE query_id = ANY($1::uuid[])",
    recorded="SELECT outcome, reply_digest, reason FROM {s}.access_record WHERE query_id = $1",
    record_exists="SELECT 1 FROM {s}.access_record WHERE record_id = $1",
    # each record with its latest flag change, read at $7 (a flag whose end has passed is off)
    for_person=(
        "SELECT * FROM (SELECT r.*, coalesce(f.not_disclosed AND (f.withheld_until IS NULL"
        " OR f.withheld_until > $7), false) AS not_disclosed, f.reason AS withheld_reason,"
        " f.withheld_until FROM {s}.access_record r LEFT JOIN LATERAL (SELECT d.not_disclosed,"
        " d.reason, d.withheld_until FROM {s}.disclosure_flag d WHERE d.record_id = r.record_id"
        " ORDER BY d.change_seq DESC LIMIT 1) f ON true WHERE r.person = $1"
        " AND ($2::timestamptz IS NULL OR r.asked_at >= $2)"
        " AND ($3::timestamptz IS NULL OR r.asked_at < $3)"
        " AND ($4::text IS NULL OR r.requester = $4 OR r.provider = $4)"
        " AND ($8::bigint IS NULL OR r.seq < $8)) x"
        " WHERE $5::boolean OR NOT x.not_disclosed ORDER BY x.seq DESC LIMIT $6"
    ),
    all_records="SELECT * FROM {s}.access_record ORDER BY seq",
    between="SELECT * FROM {s}.access_record WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
    flagged=(
        "SELECT record_id, reason AS withheld_reason, withheld_until FROM (SELECT DISTINCT ON"
        " (record_id) record_id, not_disclosed, reason, withheld_until FROM {s}.disclosure_flag"
        " ORDER BY record_id, change_seq DESC) f"
        " WHERE not_disclosed AND (withheld_until IS NULL OR withheld_until > $1)"
    ),
    count="SELECT coalesce(max(seq), 0) FROM {s}.access_record",
    checkpoints=(
        "SELECT seq, hash, signed_at, signature, flag_seq, flag_hash FROM {s}.checkpoint"
        " ORDER BY seq, flag_seq"
    ),
    checkpoint_at=(
        "SELECT seq, hash, signed_at, signature, flag_seq, flag_hash FROM {s}.checkpoint"
        " WHERE seq = $1 AND flag_seq = $2"
    ),
    insert_checkpoint=(
        "INSERT INTO {s}.checkpoint (seq, hash, signed_at, signature, flag_seq, flag_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq, flag_seq) DO NOTHING"
    ),
    flag_head=(
        "SELECT change_seq, record_id, not_disclosed, changed_at, actor, reason, prev_hash, hash,"
        " signature, withheld_until FROM {s}.disclosure_flag ORDER BY change_seq DESC LIMIT 1"
    ),
    flag_changes=(
        "SELECT change_seq, record_id, not_disclosed, changed_at, actor, reason, prev_hash, hash,"
        " signature, withheld_until FROM {s}.disclosure_flag ORDER BY change_seq"
    ),
    insert_flag=(
        "INSERT INTO {s}.disclosure_flag (change_seq, record_id, not_disclosed, changed_at,"
        " actor, reason, prev_hash, hash, signature, withheld_until)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ),
    # one record (a batch of one): one prepared statement, one round trip (a COPY takes two);
    # its columns are RECORD_COLUMNS, in order (record_row's)
    insert_record=(
        "INSERT INTO {s}.access_record (seq, record_id, query_id, requester, provider, affair,"
        " items, asked_at, answered_at, outcome, reason, person, query_digest, reply_digest,"
        " prev_hash, hash, sealed_at, seal)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ),
    # one statement per batch of claims: the fresh keys (schema.sql says why a function)
    claim="SELECT k FROM {s}.claim_queries($1::uuid[], $2::bytea[], $3) AS k",
    # the keys that were not fresh (a replay, a redelivery): their claim's digest and record
    # (a function for its plan, as the claim: schema.sql)
    claimed="SELECT digest, recorded FROM {s}.claimed_keys($1::uuid[]) ORDER BY n",
    forget_claims="DELETE FROM {s}.query_claim WHERE claimed_at < $1",
    # held replies (schema.sql: a function, for its commit that need not wait for the flush)
    hold_replies="SELECT {s}.hold_replies($1::uuid[], $2::bytea[], $3::bytea[], $4)",
    held_reply="SELECT body FROM {s}.held_reply WHERE key = $1 AND digest = $2",
    forget_held="DELETE FROM {s}.held_reply WHERE kept_until < $1",
)


def statements(quoted_schema: str) -> Statements:
    """The store's statements for an already validated and quoted schema name."""
    return Statements(
        **{
            f.name: getattr(_TEMPLATES, f.name).replace("{s}", quoted_schema)
            for f in fields(Statements)
        }
    )
