"""Card login, the pure part: one-time challenges bound to a pre-login, and the signature check.

``GET /login`` makes a ``PreLogin`` (32 random bytes of challenge, an opaque state, an expiry)
that the browser refers to by the ``__Host-renkei-pre`` cookie. The card bridge signs the raw
challenge with the card's authentication key (RSA PKCS#1 v1.5, SHA-256) and posts it back with
the certificate; ``verify_response`` checks it against the pre-login, which the caller has
already taken out of the store (so a pre-login is used at most once, whatever the outcome).
Nothing here logs: the caller logs the refusal code, never the challenge or the certificate.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from portal.codec import b64url_decode
from portal.exceptions import ChallengeRefused, TooMany

__all__ = ["CHALLENGE_BYTES", "PreLogin", "PreLoginStore", "verify_response"]

CHALLENGE_BYTES = 32
MIN_RSA_BITS = 2048
MAX_CERTIFICATE = 16 * 1024


@dataclass(slots=True)
class PreLogin:
    id: str
    challenge: bytes
    state: str
    expires: dt.datetime
    client: str  # who asked for it (``portal.limits.client_of``)
    notice: str = ""  # a message for the next login page (why the last session ended)


class PreLoginStore:
    """Pre-logins in memory, bounded without pushing anyone's out: the expired go, and a new
    one is refused (``TooMany``, until the oldest in the way expires) when its client already
    holds ``per_client`` or the store holds ``cap``."""

    def __init__(self, ttl: dt.timedelta, cap: int = 100_000, per_client: int = 30) -> None:
        self._ttl = ttl
        self._cap = cap
        self._per_client = per_client
        self._items: dict[str, PreLogin] = {}  # every pre-login lives as long: oldest first
        self._clients: dict[str, dict[str, PreLogin]] = {}  # client → its pre-logins

    def __len__(self) -> int:
        return len(self._items)

    def create(self, now: dt.datetime, client: str, notice: str = "") -> PreLogin:
        self._expire(now)
        mine = self._clients.get(client, {})
        if len(mine) >= self._per_client:
            raise TooMany("pending", _until(next(iter(mine.values())), now))
        if len(self._items) >= self._cap:
            raise TooMany("store", _until(next(iter(self._items.values())), now))
        pre = PreLogin(
            id=secrets.token_urlsafe(32),
            challenge=secrets.token_bytes(CHALLENGE_BYTES),
            state=secrets.token_urlsafe(16),
            expires=now + self._ttl,
            client=client,
            notice=notice,
        )
        self._items[pre.id] = pre
        self._clients.setdefault(client, {})[pre.id] = pre
        return pre

    def take(self, pre_id: str | None) -> PreLogin | None:
        """Remove and return the pre-login: it answers one response at most."""
        pre = self._items.pop(pre_id, None) if pre_id else None
        if pre is not None:
            self._forget(pre)
        return pre

    def _expire(self, now: dt.datetime) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.expires > now:
                break
            del self._items[oldest.id]
            self._forget(oldest)

    def _forget(self, pre: PreLogin) -> None:
        mine = self._clients[pre.client]
        del mine[pre.id]
        if not mine:
            del self._clients[pre.client]


def _until(pre: PreLogin, now: dt.datetime) -> float:
    return (pre.expires - now).total_seconds()


def _refuse(code: str, ja: str, en: str, status: int = 400) -> ChallengeRefused:
    return ChallengeRefused(code, f"{ja} ({en})", status)


def verify_response(
    pre: PreLogin | None,
    *,
    challenge: str,
    state: str,
    signature: str,
    certificate: str,
    now: dt.datetime,
) -> bytes:
    """The DER certificate whose key signed the pre-login's challenge, or ``ChallengeRefused``."""
    if pre is None:
        raise _refuse(
            "no_pre_login",
            "ログインの手続きが見つからないか、すでに使われています",
            "no login in progress, or this challenge was already used",
        )
    try:
        got = b64url_decode(challenge, limit=256)
    except ValueError:
        got = b""
    if not hmac.compare_digest(got, pre.challenge) or not hmac.compare_digest(
        state.encode(), pre.state.encode()
    ):
        raise _refuse(
            "foreign_challenge",
            "このログイン手続きのチャレンジではありません",
            "the challenge or state does not belong to this login",
        )
    if now >= pre.expires:
        raise _refuse(
            "challenge_expired",
            "ログインの有効時間が過ぎました。もう一度お試しください",
            "the challenge expired; please try again",
        )
    try:
        der = b64url_decode(certificate, limit=MAX_CERTIFICATE * 2)
        cert = x509.load_der_x509_certificate(der)
        sig = b64url_decode(signature, limit=2048)
    except ValueError as exc:
        raise _refuse(
            "malformed_response",
            "カードからの応答を読み取れません",
            "the card's response is malformed",
        ) from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise _refuse(
            "unsupported_key",
            "利用者証明用電子証明書の鍵ではありません",
            "not a card authentication key (RSA 2048 or more)",
            403,
        )
    try:
        key.verify(sig, pre.challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise _refuse(
            "bad_signature",
            "署名を検証できません(別のカードの署名です)",
            "the signature does not verify with this certificate's key",
            403,
        ) from exc
    return der
