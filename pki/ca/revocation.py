"""Revocation policy: which certificates a resident-register change revokes, and why.

| event | signature certificate | authentication certificate |
|---|---|---|
| ``moved`` (転居・転出) | affiliationChanged | kept: it carries no address |
| ``name_changed`` (氏名変更) | affiliationChanged | kept: it carries no name |
| ``died`` (死亡) | cessationOfOperation | cessationOfOperation |
| ``card_lost`` (紛失・盗難) | keyCompromise | keyCompromise |

``affiliationChanged`` rather than ``superseded``: RFC 5280 defines it as "the subject's name
or other information in the certificate has been modified" with no suspicion on the key — which
is exactly a move or a new name. The event's ``at`` (when the change took effect) becomes the
CRL entry's invalidityDate; the revocation date is when the CA processed it.

A resident may also ask for a revocation (本人からの失効申請): :class:`RequestReason`.
Pure: no I/O, no logging.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from pki.exceptions import Malformed
from pki.profiles import CertKind

__all__ = [
    "EventKind",
    "RequestReason",
    "ResidentEvent",
    "Revocation",
    "check_holder",
    "revocations_for",
]

_HOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_NUMBER_SHAPED = re.compile(r"\d{11,13}")


def check_holder(holder: object) -> str:
    """A holder reference: the card desk's opaque id of the resident, never a number.

    Refuses anything shaped like an individual number, resident-record code or corporate
    number (11–13 digits), so that no such number becomes the CA's matching key.
    """
    if not isinstance(holder, str) or not _HOLDER.fullmatch(holder):
        raise Malformed("holder must be 1–64 characters of A–Z a–z 0–9 . _ : -")
    if _NUMBER_SHAPED.fullmatch(holder):
        raise Malformed("holder must not be an individual number or resident-record code")
    return holder


class EventKind(StrEnum):
    MOVED = "moved"
    DIED = "died"
    CARD_LOST = "card_lost"
    NAME_CHANGED = "name_changed"
    NUMBER_CHANGED = "number_changed"  # the card bears the former number: it lapses


class RequestReason(StrEnum):
    """What a resident (or the desk on their behalf) may give as the reason."""

    KEY_COMPROMISE = "key_compromise"  # card lost or stolen, password leaked
    CESSATION = "cessation_of_operation"  # no longer wants the certificate
    SUPERSEDED = "superseded"  # replaced by a new certificate

    @property
    def crl_reason(self) -> x509.ReasonFlags:
        return {
            RequestReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
            RequestReason.CESSATION: x509.ReasonFlags.cessation_of_operation,
            RequestReason.SUPERSEDED: x509.ReasonFlags.superseded,
        }[self]


@dataclass(frozen=True, slots=True)
class ResidentEvent:
    """A change in the resident register that concerns a certificate holder."""

    kind: EventKind
    holder: str
    at: dt.datetime

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EventKind):
            raise Malformed(f"event kind must be one of {', '.join(k.value for k in EventKind)}")
        check_holder(self.holder)
        if not isinstance(self.at, dt.datetime) or self.at.tzinfo is None:
            raise Malformed("event time must be a timezone-aware datetime")

    def __repr__(self) -> str:
        return f"ResidentEvent({self.kind.value}, at={self.at.isoformat()})"


@dataclass(frozen=True, slots=True)
class Revocation:
    kind: CertKind
    reason: x509.ReasonFlags


_POLICY: dict[EventKind, tuple[Revocation, ...]] = {
    EventKind.MOVED: (Revocation(CertKind.SIGNATURE, x509.ReasonFlags.affiliation_changed),),
    EventKind.NAME_CHANGED: (Revocation(CertKind.SIGNATURE, x509.ReasonFlags.affiliation_changed),),
    EventKind.DIED: (
        Revocation(CertKind.SIGNATURE, x509.ReasonFlags.cessation_of_operation),
        Revocation(CertKind.AUTHENTICATION, x509.ReasonFlags.cessation_of_operation),
    ),
    # 個人番号の変更 makes the card invalid (REGISTER-FACTS §2.2 [S]), and a card that is no
    # longer valid takes both certificates with it (§1.4 [V]); the new card gets new ones
    EventKind.NUMBER_CHANGED: (
        Revocation(CertKind.SIGNATURE, x509.ReasonFlags.superseded),
        Revocation(CertKind.AUTHENTICATION, x509.ReasonFlags.superseded),
    ),
    EventKind.CARD_LOST: (
        Revocation(CertKind.SIGNATURE, x509.ReasonFlags.key_compromise),
        Revocation(CertKind.AUTHENTICATION, x509.ReasonFlags.key_compromise),
    ),
}


def revocations_for(event: ResidentEvent) -> tuple[Revocation, ...]:
    """Which of the holder's certificates to revoke, each with its CRL reason."""
    return _POLICY[event.kind]
