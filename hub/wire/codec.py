"""Bytes ↔ messages. One entry point each way; every failure is a ``WireError`` with a code."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from hub.wire.base import CONTENT_TYPE, MAX_MESSAGE_BYTES
from hub.wire.exceptions import MalformedMessage, MessageTooLarge, WrongContentType
from hub.wire.messages import Message, TokenRequest, TranslateResult

__all__ = [
    "check_content_type",
    "decode",
    "decode_as",
    "decode_token_request",
    "decode_token_result",
    "encode",
]

_message: TypeAdapter[Message] = TypeAdapter(Message)
_token_request: TypeAdapter[TokenRequest] = TypeAdapter(TokenRequest)
M = TypeVar("M", bound=BaseModel)
_SHOWN = 40  # characters of an untrusted value or name shown in an explanation
_WHERE = 120  # characters of one problem's location
_WHAT = 300  # characters of one problem's text: three problems stay well under 2,000


def encode(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def _check_size(body: bytes) -> None:
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")


def _printable(text: str, limit: int) -> str:
    """``text`` as an operator's line and an access record may carry it: cut to ``limit``
    characters (``…`` marks the cut), every unprintable character (NUL, control, a lone
    surrogate) escaped, so that what a sender put in a message cannot break the line, the
    record or the reply that explains it."""
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in cut)
    return cut + "…" if len(text) > limit else cut


def _problem(err: Any) -> str:
    """One pydantic error as ``where: what``. Only the discriminator errors quote the input
    (the tag); it is shown cut, like every part of the location (a key is the sender's)."""
    where = ".".join(_printable(str(x), _SHOWN) for x in err["loc"]) or "message"
    where = where[:_WHERE]
    ctx = err.get("ctx") or {}
    if err["type"] == "union_tag_invalid":
        tag = _printable(str(ctx.get("tag", "")), _SHOWN)
        text = (
            f"Input tag '{tag}' found using {ctx.get('discriminator', '')} does not match any "
            f"of the expected tags: {ctx.get('expected_tags', '')}"
        )
    else:
        text = err["msg"]
    return f"{where}: {_printable(text, _WHAT)}"


def _explain(exc: ValidationError) -> str:
    """The first few problems, as a person reads them: `envelope.sender: String should match…`."""
    errors = exc.errors(include_url=False, include_input=False)
    parts = [_problem(err) for err in errors[:3]]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _validate(adapter: TypeAdapter[Any], body: bytes) -> Any:
    _check_size(body)
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise MalformedMessage(_explain(exc)) from None


def check_content_type(content_type: str | None) -> None:
    """Every message of the network is JSON; raises ``WrongContentType`` for anything else
    (the transport's content type, checked before the body is parsed)."""
    if content_type != CONTENT_TYPE:
        shown = "none" if content_type is None else repr(_printable(content_type, _SHOWN))
        raise WrongContentType(f"content type {shown}, not {CONTENT_TYPE!r}")


def decode(body: bytes) -> Message:
    """Parse any network message; raises ``MalformedMessage`` or ``MessageTooLarge``."""
    result: Message = _validate(_message, body)
    return result


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def decode_as(model: type[M], body: bytes) -> M:
    """Parse a message known to be of ``model``; the same errors as ``decode``."""
    result: M = _validate(_adapter(model), body)
    return result


def decode_token_request(body: bytes) -> TokenRequest:
    result: TokenRequest = _validate(_token_request, body)
    return result


def decode_token_result(body: bytes) -> TranslateResult:
    return decode_as(TranslateResult, body)
