"""Verify a whole store: the record chain, its checkpoints and the disclosure-flag log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.records.exceptions import ChainBroken
from hub.records.flags import verify_flags
from hub.records.model import Checkpoint
from hub.records.store import RecordStore
from hub.records.verify import VerifyReport, verify_async

__all__ = ["StoreReport", "verify_store"]


@dataclass(frozen=True, slots=True)
class StoreReport:
    """Both verifications; ``ok`` only if both are."""

    records: VerifyReport
    flags: VerifyReport

    @property
    def ok(self) -> bool:
        return self.records.ok and self.flags.ok

    def __str__(self) -> str:
        return f"records: {self.records.detail}; disclosure flags: {self.flags.detail}"

    def raise_if_broken(self) -> None:
        """Raise `ChainBroken` (with the plain-words detail) unless both checks passed."""
        if not self.ok:
            raise ChainBroken(str(self))


async def verify_store(
    store: RecordStore,
    public_key: Ed25519PublicKey,
    *,
    known_head: tuple[int, bytes] | None = None,
    witnessed: Sequence[Checkpoint] = (),
) -> StoreReport:
    """Verify everything ``store`` holds against the hub's ``public_key``.

    Pass a public key obtained independently of the store (configuration, the PKI), not
    ``store.public_key``, when the point is to check the store.  ``witnessed``: the newest
    heads of the hub's witness (`hub.records.witness.read_witness`), kept outside the
    database; the chain and the flag log must still hold them.  The checkpoints due every
    ``store.checkpoint_every`` records are required.  Checkpoints and flag changes are read
    *before* the records, so each refers to a record the stream will contain even while the
    hub keeps appending.
    """
    checkpoints = await store.checkpoints()
    changes = await store.flag_changes()
    records = await verify_async(
        store.iter_all(),
        checkpoints,
        public_key,
        known_head=known_head,
        witnessed=witnessed,
        every=store.checkpoint_every,
    )
    return StoreReport(records, verify_flags(changes, public_key, checkpoints, witnessed))
