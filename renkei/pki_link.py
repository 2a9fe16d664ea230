"""The certification authority on the network: revocation follows the resident register.

The CA enrolls (as office ``jlis-pki``) each person it certifies and files their certificates
under that token (``holder_for``); a register's change event then reaches it under the same
token, and a move revokes the signature certificate, a death both (``pki.revocations_for``).
The two services stay independent: this adapter in the composition root joins them.
"""

from __future__ import annotations

import datetime as dt

from hub.log import get_logger
from hub.wire import Change
from pki import CertificationAuthority, EventKind, ResidentEvent

__all__ = ["PKI_OFFICE", "CaListener", "holder_for"]

PKI_OFFICE = "jlis-pki"
log = get_logger("renkei.pki_link")
_EVENTS: dict[str, EventKind] = {"moved_out": EventKind.MOVED, "death": EventKind.DIED}


def holder_for(token: str) -> str:
    """The CA's holder reference for a person: its own network token (no number, no name)."""
    return f"t:{token}"


class CaListener:
    """Change events for ``jlis-pki`` → revocations at the CA."""

    def __init__(self, ca: CertificationAuthority) -> None:
        self.ca = ca

    async def changed(
        self, person: str, change: Change, effective: dt.date, detail: dict[str, str]
    ) -> None:
        kind = _EVENTS.get(change)
        if kind is None:  # births, move-ins, household and number changes revoke nothing
            return
        at = dt.datetime.combine(effective, dt.time(), dt.UTC)
        revoked = self.ca.apply_event(ResidentEvent(kind, holder_for(person), at))
        log.info("pki.event", change=change, revoked=len(revoked))
