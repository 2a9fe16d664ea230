"""The one way to make a signed outgoing message: body, signature, ids, trace, content type.

Every participant that publishes a wire message (the hub's forwarder, finisher and announcer,
an office's runtime) builds it here, so none of them can drop the signature header or the
``traceparent`` by retyping the headers.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.bus.api import OutMessage
from hub.wire import SIGNATURE_HEADER, Message, encode, sign

__all__ = ["TRACEPARENT_HEADER", "signed_message"]

TRACEPARENT_HEADER = "traceparent"


def signed_message(
    msg: Message, key: Ed25519PrivateKey, *, expiration_ms: int | None = None
) -> OutMessage:
    """``msg`` encoded and signed with ``key``; message and correlation ids and the
    ``traceparent`` header from its envelope; JSON content type."""
    body = encode(msg)
    env = msg.envelope
    return OutMessage(
        body=body,
        message_id=str(env.message_id),
        correlation_id=str(env.correlation_id),
        headers={SIGNATURE_HEADER: sign(body, key), TRACEPARENT_HEADER: env.traceparent},
        expiration_ms=expiration_ms,
    )
