"""The certificate issuance centre (証明書交付センター) as office ``jlis-kofu`` on the network.

A kiosk asks it for a challenge, has the card sign it with the user-certificate's key (利用者証明
用電子証明書, after its 4-digit PIN) and brings back the signature, the certificate and the
order. The centre checks the signature over its own fresh challenge, then the certificate —
chain, policy, validity and its status by OCSP at J-LIS's CA (``CardCheck``, filled by the
composition root with ``pki``) — then has J-LIS's certification service name the holder
(``identify``: only the centre's own token for them comes back), then asks the hub for the
certificate's data under affair ``convenience_issuance``; the hub finds the municipality that
holds the person (legal table rows c01–c03, models) and records the access, which the resident
sees in やりとり履歴. The centre never learns who the resident is beyond its token and what the
municipality certifies.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hub.node import OFFICE_TIMED_OUT, NotIdentified, OfficeNode
from hub.wire import HUB
from issuance.exceptions import (
    ISSUANCE_BAD_RESPONSE,
    ISSUANCE_CARD_REFUSED,
    ISSUANCE_NOT_ISSUED,
    ISSUANCE_UNAVAILABLE,
    IssuanceRefused,
)
from issuance.rules import AFFAIR, Order, check_open

__all__ = ["CHALLENGE_BYTES", "CardCheck", "IssuanceCentre", "Issued"]

PDF = "pdf"  # the municipality's answer: its signed certificate, base64
CHALLENGE_BYTES = 32
CHALLENGE_TTL = dt.timedelta(minutes=2)
MAX_CHALLENGES = 10_000
MAX_CERTIFICATE = 16 * 1024
MIN_RSA_BITS = 2048


class CardCheck(Protocol):
    """The user certificate's check now (chain, policy, validity, OCSP); raises
    ``IssuanceRefused`` (code ``issuance.card_refused``) with why."""

    async def check(self, der: bytes, at: dt.datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Issued:
    """What the municipality certified (its answer) and the fee; the record of the access."""

    order: Order
    data: Mapping[str, Any]
    record_id: str
    pdf: bytes | None  # the municipality's signed certificate (None: it printed none)


class IssuanceCentre:
    def __init__(
        self,
        node: OfficeNode,
        check: CardCheck | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.node = node
        self.check = check
        self.clock = clock or _utcnow  # the service hours' (tests set it); certificates: now
        self._challenges: dict[bytes, dt.datetime] = {}  # challenge → expiry, oldest first

    def challenge(self) -> bytes:
        """A fresh one-time challenge for the card to sign (at most ``MAX_CHALLENGES`` wait;
        beyond, the oldest is dropped: a kiosk whose challenge went asks again)."""
        now = _utcnow()
        for old in [c for c, until in self._challenges.items() if until <= now]:
            del self._challenges[old]
        while len(self._challenges) >= MAX_CHALLENGES:
            del self._challenges[next(iter(self._challenges))]
        value = secrets.token_bytes(CHALLENGE_BYTES)
        self._challenges[value] = now + CHALLENGE_TTL
        return value

    async def authenticate(self, challenge: bytes, signature: bytes, certificate: bytes) -> str:
        """The centre's token for the card's holder, or ``IssuanceRefused`` saying why."""
        now = _utcnow()
        until = self._challenges.pop(challenge, None)  # one use, whatever the outcome
        if until is None or until <= now:
            raise IssuanceRefused(
                ISSUANCE_BAD_RESPONSE, "認証の有効期限が切れました。もう一度カードを置いてください"
            )
        _verify(challenge, signature, certificate)
        if self.check is None:
            raise IssuanceRefused(ISSUANCE_UNAVAILABLE, "証明書の確認ができません (no checker)")
        await self.check.check(certificate, now)
        try:
            return await self.node.identify(certificate)
        except NotIdentified as exc:
            if exc.code == OFFICE_TIMED_OUT:
                raise IssuanceRefused(
                    ISSUANCE_UNAVAILABLE, "J-LIS が応答しません。しばらくしてからお試しください"
                ) from None
            raise IssuanceRefused(
                ISSUANCE_CARD_REFUSED, f"この電子証明書は利用できません ({exc.code})"
            ) from None

    async def issue(self, person: str, order: Order) -> Issued:
        """The municipality's answer for ``order`` about ``person`` (the centre's token)."""
        check_open(self.clock())
        item = order.item
        answer = await self.node.ask(AFFAIR, HUB, (item,), person, dict(order.params))
        if answer.status == "ok" and answer.data is not None and item in answer.data:
            return Issued(order, answer.data[item], str(answer.record_id), _pdf(answer.data))
        if answer.status == "timed_out":
            raise IssuanceRefused(ISSUANCE_UNAVAILABLE, "市区町村が応答しません (no answer)")
        code = answer.code or ISSUANCE_NOT_ISSUED
        reason = answer.reason or "交付できません"
        if answer.status == "not_found":
            reason = f"{order.kind.ja}を交付できる記録がありません ({reason})"
        raise IssuanceRefused(code, reason)


def _pdf(answer: Mapping[str, Any]) -> bytes | None:
    encoded = answer.get(PDF)
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise IssuanceRefused(ISSUANCE_NOT_ISSUED, "市区町村の証明書を読めません") from None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _verify(challenge: bytes, signature: bytes, certificate: bytes) -> None:
    """RSA PKCS#1 v1.5 SHA-256 over the raw challenge by the certificate's key (the card's)."""
    bad = IssuanceRefused(ISSUANCE_BAD_RESPONSE, "カードの応答を確認できません (bad response)")
    if not certificate or len(certificate) > MAX_CERTIFICATE:
        raise bad
    try:
        cert = x509.load_der_x509_certificate(certificate)
        key = cert.public_key()
    except ValueError:
        raise bad from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise bad
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise bad from None
