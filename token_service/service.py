"""The token service: batches of translations and issues in, one result per item out.

Contract of a request on the token channel (``token_service.link``; request/reply, JSON, see
``hub.wire.messages``):

- a ``TranslateBatch`` or ``IssueBatch`` is answered by a ``TranslateResult`` with exactly one
  item per request item, in order; an item that fails is a ``TokenRefusal`` in its place and
  does not affect the others;
- a body that does not decode as a token request (malformed, or over the size limit) is
  answered by a ``TranslateResult`` holding exactly ONE ``TokenRefusal`` whose code is the
  wire error's (``wire.malformed`` / ``wire.too_large``). The request's item count is unknown
  then; a client that sees ``len(reply.items) != len(request.items)`` applies that single
  refusal to every item of its batch (for a one-item batch the rule changes nothing).

Never raises on a bad request; an unexpected exception is a bug: the channel's connection
ends, and the hub answers the batch's queries ``hub.token_service_unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.tracing import OFF, SpanKind, Tracing, parent
from hub.tracing import names as tn
from hub.wire import (
    IssueItem,
    OfficeKeys,
    SealError,
    TokenOk,
    TokenRefusal,
    TokenRequest,
    TokenResult,
    TranslateBatch,
    TranslateItem,
    TranslateResult,
    WireError,
    decode_token_request,
    encode,
    open_sealed,
)
from token_service.crypto import KeyRing
from token_service.exceptions import BadResidentCode, TokenError, UnreadableResidentCode

__all__ = ["TokenService", "service_keys"]

_MAX_REASON: Final = 2000  # hub.wire's Text limit


def service_keys(keyring: KeyRing) -> OfficeKeys:
    """The service's own signing and sealing keys, derived from the master secret."""
    return OfficeKeys.from_seed(keyring.service_seed())


def _refusal(exc: TokenError | WireError) -> TokenRefusal:
    return TokenRefusal(code=exc.code, reason=str(exc)[:_MAX_REASON])


class TokenService:
    """Translates and issues tokens. Holds the key ring and its sealing key, and nothing else:
    no table, no content, no state between requests, so any number of copies can run."""

    def __init__(
        self, keyring: KeyRing, sealing_key: X25519PrivateKey, *, tracing: Tracing = OFF
    ) -> None:
        self._ring = keyring
        self._sealing = sealing_key
        self.tracing = tracing

    @classmethod
    def from_keyring(cls, keyring: KeyRing) -> TokenService:
        """A service whose sealing key is derived from the master secret (`service_keys`)."""
        return cls(keyring, service_keys(keyring).sealing)

    @property
    def seal_public_key(self) -> X25519PublicKey:
        """What J-LIS seals resident-record codes to."""
        return self._sealing.public_key()

    def handle(self, request: TokenRequest) -> TranslateResult:
        """One result per item, in order; a failing item is refused in its place."""
        if isinstance(request, TranslateBatch):
            return TranslateResult(items=tuple(self._translate(i) for i in request.items))
        return TranslateResult(items=tuple(self._issue(i) for i in request.items))

    def _translate(self, item: TranslateItem) -> TokenResult:
        try:
            tokens = self._ring.translate(item.token, item.holder, item.targets)
        except TokenError as exc:
            return _refusal(exc)
        return TokenOk(tokens=tokens)

    def _issue(self, item: IssueItem) -> TokenResult:
        """Open the sealed code (11 ASCII digits, nothing else), check it, make the tokens."""
        try:
            try:
                plain = open_sealed(item.rrc, self._sealing)
            except SealError:
                raise UnreadableResidentCode(
                    "the resident-record code is not sealed for the token service, or was altered"
                ) from None
            try:
                rrc = plain.decode("ascii")
            except UnicodeDecodeError:
                raise BadResidentCode("a resident-record code is 11 ASCII digits") from None
            link = self._ring.link_id(rrc)
            tokens = tuple(self._ring.token_for(link, t) for t in item.targets)
        except TokenError as exc:
            return _refusal(exc)
        return TokenOk(tokens=tokens)

    async def handle_bytes(self, body: bytes) -> bytes:
        """The channel's handler: bytes in, bytes out, never an exception for a bad request."""
        try:
            request = decode_token_request(body)
        except WireError as exc:
            return encode(TranslateResult(items=(_refusal(exc),)))
        if not self.tracing.enabled:
            return encode(self.handle(request))
        started = time.time_ns()
        result = self.handle(request)
        self._traced(request, result, started)
        return encode(result)

    def _traced(self, request: TokenRequest, result: TranslateResult, started: int) -> None:
        """One span per item, in the trace of the request it came from (its traceparent):
        the batch's time, its size, and the item's outcome; never a token."""
        tracer = self.tracing.tracer
        ended = time.time_ns()
        items: Sequence[TranslateItem | IssueItem] = request.items
        size = {tn.BATCH_COUNT: len(items)}
        for item, done in zip(items, result.items, strict=True):
            tags: dict[str, object] = {**size, tn.OUTCOME: done.status}
            if isinstance(done, TokenRefusal):
                tags[tn.ERROR_TYPE] = done.code
            span = tracer.start_span(
                request.kind,
                context=parent(item.traceparent),
                kind=SpanKind.SERVER,
                start_time=started,
                attributes=tags,
            )
            span.end(end_time=ended)
