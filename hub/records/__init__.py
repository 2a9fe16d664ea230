"""Access records (情報提供等記録): append-only, hash-chained, batched, verifiable.

The hub hands a `RecordDraft` per query outcome to a `RecordWriter`, which batches drafts into
a `RecordStore` (`MemoryRecordStore` embedded, `PgRecordStore` in production) and returns only
once the record is durable and sealed.  `verify` / `verify_store` check the chain, its seals,
its signed checkpoints and the heads kept by the witness (`FileWitness`, `read_witness`);
residents' lookups go through `RecordStore.for_person`.  A `Claimer` batches the hub's query
claims (a query id taken once, before anything is forwarded) into the same store, a
`ReplyHold` the answers the hub makes itself until their queries' deadlines (``held.py``); a
`QuotaStore` keeps the query quotas' buckets every hub process shares (`hub.records.quotas`);
a `DeadlineStore` the deadlines of the queries forwarded and not yet finished
(`hub.records.deadlines`).
"""

from hub.records.audit import StoreReport, verify_store
from hub.records.chain import (
    DEFAULT_CHECKPOINT_EVERY,
    Verifier,
    VerifyReport,
    chain,
    sign_checkpoint,
    verify,
    verify_async,
)
from hub.records.claims import Claim, Claimer, ClaimState
from hub.records.deadlines import (
    DeadlineStore,
    Due,
    DueBatch,
    MemoryDeadlineStore,
    Pending,
    PgDeadlineStore,
)
from hub.records.exceptions import (
    ChainBroken,
    ConfigError,
    InvalidRecord,
    RecordNotFound,
    RecordsError,
    RecordWriteError,
    RoleError,
    SchemaError,
    UnsignedHead,
    WitnessError,
    WriterClosed,
)
from hub.records.flags import verify_flags
from hub.records.held import HeldReply, HeldStore, ReplyHold
from hub.records.model import (
    GENESIS_HASH,
    AccessRecord,
    Checkpoint,
    FlagChange,
    RecordDraft,
    Recorded,
    digest,
)
from hub.records.pg import PgRecordStore
from hub.records.quotas import MemoryQuotaStore, PgQuotaStore, QuotaStore, Taken, Want
from hub.records.store import MemoryRecordStore, RecordStore, disclose
from hub.records.witness import WITNESS_FILE, FileWitness, Witness, read_witness
from hub.records.writer import RecordWriter

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "GENESIS_HASH",
    "WITNESS_FILE",
    "AccessRecord",
    "ChainBroken",
    "Checkpoint",
    "Claim",
    "ClaimState",
    "Claimer",
    "ConfigError",
    "DeadlineStore",
    "Due",
    "DueBatch",
    "FileWitness",
    "FlagChange",
    "HeldReply",
    "HeldStore",
    "InvalidRecord",
    "MemoryDeadlineStore",
    "MemoryQuotaStore",
    "MemoryRecordStore",
    "Pending",
    "PgDeadlineStore",
    "PgQuotaStore",
    "PgRecordStore",
    "QuotaStore",
    "RecordDraft",
    "RecordNotFound",
    "RecordStore",
    "RecordWriteError",
    "RecordWriter",
    "Recorded",
    "RecordsError",
    "ReplyHold",
    "RoleError",
    "SchemaError",
    "StoreReport",
    "Taken",
    "UnsignedHead",
    "Verifier",
    "VerifyReport",
    "Want",
    "Witness",
    "WitnessError",
    "WriterClosed",
    "chain",
    "digest",
    "disclose",
    "read_witness",
    "sign_checkpoint",
    "verify",
    "verify_async",
    "verify_flags",
    "verify_store",
]
