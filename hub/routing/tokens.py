"""The hub's client of the token service: one request per batch of translations, over the
token channel (``token_link``)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from hub.batch import Batcher
from hub.metrics import METRICS
from hub.routing.exceptions import HUB_TOKEN_SERVICE_UNAVAILABLE
from hub.routing.token_link import TokenLinkDown
from hub.tracing import Span, current_span, traceparent
from hub.wire import (
    AnySealed,
    Failed,
    IssueBatch,
    IssueItem,
    Refused,
    TokenOk,
    TokenRefusal,
    TokenResult,
    TranslateBatch,
    TranslateItem,
    WireError,
    decode_token_result,
    encode,
)

__all__ = ["Link", "TokenClient"]


class Link(Protocol):
    """What the client needs of the channel (``token_link.TokenLink`` has this shape)."""

    async def call(self, body: bytes, *, timeout: float) -> bytes: ...  # noqa: ASYNC109


class TokenClient:
    """``translate`` and ``issue`` for one item each; concurrent calls share one request."""

    def __init__(self, link: Link, *, timeout: float = 2.0, max_batch: int = 200) -> None:
        self._link = link
        self._timeout = timeout
        self._translate: Batcher[TranslateItem, TokenResult] = Batcher(
            self._call_translate, max_batch=max_batch
        )
        self._issue: Batcher[IssueItem, TokenResult] = Batcher(
            self._call_issue, max_batch=max_batch
        )

    async def translate(
        self, token: str, holder: str, targets: tuple[str, ...]
    ) -> TokenOk | Refused | Failed:
        span = current_span()  # the token service's spans join the request's trace
        item = TranslateItem(token=token, holder=holder, targets=targets, traceparent=_tp(span))
        with METRICS.hop("token"):
            result = await self._guard(self._translate.submit(item), span)
        METRICS.translated(result.status)
        return result

    async def issue(self, rrc: AnySealed, targets: tuple[str, ...]) -> TokenOk | Refused | Failed:
        span = current_span()
        item = IssueItem(rrc=rrc, targets=targets, traceparent=_tp(span))
        return await self._guard(self._issue.submit(item), span)

    @staticmethod
    async def _guard(pending: Awaitable[TokenResult], span: Span) -> TokenOk | Refused | Failed:
        try:
            result = await pending
            span.add_event("translated")
        except (TokenLinkDown, WireError) as exc:
            return Failed(
                family="hub",
                code=HUB_TOKEN_SERVICE_UNAVAILABLE,
                reason=f"the token service did not answer: {exc}",
            )
        if isinstance(result, TokenRefusal):
            return Refused(code=result.code, reason=result.reason)
        return result

    async def _call_translate(self, items: Sequence[TranslateItem]) -> Sequence[TokenResult]:
        return await self._call_many(encode(TranslateBatch(items=tuple(items))), len(items))

    async def _call_issue(self, items: Sequence[IssueItem]) -> Sequence[TokenResult]:
        return await self._call_many(encode(IssueBatch(items=tuple(items))), len(items))

    async def _call(self, body: bytes) -> Sequence[TokenResult]:
        reply = await self._link.call(body, timeout=self._timeout)
        return decode_token_result(reply).items

    async def _call_many(self, body: bytes, n: int) -> Sequence[TokenResult]:
        """One result per item; a refusal of the whole request applies to every item."""
        results = await self._call(body)
        if len(results) == 1 and n > 1 and isinstance(results[0], TokenRefusal):
            return [results[0]] * n
        return results


def _tp(span: Span) -> str | None:
    return traceparent(span, "") or None
