"""Bytes ↔ messages. One entry point each way; every failure is a ``WireError`` with a code."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from hub.wire.base import MAX_MESSAGE_BYTES
from hub.wire.exceptions import MalformedMessage, MessageTooLarge
from hub.wire.messages import Message, TokenRequest, TranslateResult

__all__ = ["decode", "decode_as", "decode_token_request", "decode_token_result", "encode"]

_message: TypeAdapter[Message] = TypeAdapter(Message)
_token_request: TypeAdapter[TokenRequest] = TypeAdapter(TokenRequest)
M = TypeVar("M", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def _check_size(body: bytes) -> None:
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")


def _explain(exc: ValidationError) -> str:
    """The first few problems, as a person reads them: `envelope.sender: String should match…`."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _validate(adapter: TypeAdapter[Any], body: bytes) -> Any:
    _check_size(body)
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise MalformedMessage(_explain(exc)) from None


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
