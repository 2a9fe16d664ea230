"""The token channel's protocol (hub ↔ token service over TCP): pure functions over bytes.

The hub's processes ask the token service over a TCP connection of their own instead of an
RPC through the broker. A connection opens with a handshake, in which each side proves its
identity with its Ed25519 signing key, then carries frames both ways::

    token service → hub   HELLO = MAGIC (16 bytes) ‖ server challenge (32 random bytes)
    hub → token service   header(96, 0) ‖ client challenge (32) ‖ hub's signature (64)
    token service → hub   the token service's signature (64)
    then, either way      header(length, request id) ‖ body (``length`` bytes)

The header is two big-endian unsigned 32-bit integers: the body's length and a request id the
hub chooses (its reply carries the same id). Each signature is over ``transcript(role, ...)``:
a domain string naming the protocol's version and the signer's role (``hub`` or ``token``),
then both challenges, so a signature is good for one connection and one direction only — never
a message of the network (those are JSON, not this prefix), never replayed to another
connection, never reflected to the other side.

A body is a token request (``TranslateBatch`` / ``IssueBatch``) and its reply a
``TranslateResult``, encoded as over the bus. A frame over :data:`MAX_FRAME` is refused by
either side, which closes the connection.
"""

from __future__ import annotations

import secrets
import struct
from typing import Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.wire.base import MAX_MESSAGE_BYTES
from hub.wire.crypto import PublicKeys, b64d, b64e, sign, verify_by
from hub.wire.exceptions import BadSignature, MalformedMessage, MessageTooLarge

__all__ = [
    "CHALLENGE",
    "HEADER",
    "HELLO",
    "HUB_HELLO",
    "MAGIC",
    "MAX_FRAME",
    "SIGNATURE",
    "challenge",
    "frame",
    "hello",
    "hub_hello",
    "open_hub_hello",
    "parse_header",
    "parse_hello",
    "prove",
    "transcript",
    "verify_proof",
]

Role = Literal["hub", "token"]

MAGIC: Final = b"renkei-token/1\r\n"  # the server's first bytes: the protocol and its version
CHALLENGE: Final = 32
SIGNATURE: Final = 64
HELLO: Final = len(MAGIC) + CHALLENGE  # the server's hello
HUB_HELLO: Final = CHALLENGE + SIGNATURE  # the body of the hub's hello frame
HEADER: Final = struct.Struct(">II")  # body length, request id
MAX_FRAME: Final = 2 * MAX_MESSAGE_BYTES
"""The largest body either side reads: a request between ``MAX_MESSAGE_BYTES`` and this is
answered ``wire.too_large`` as over the bus; beyond it the connection is closed."""
_DOMAIN: Final = b"renkei token channel v1\x00"


def challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE)


def transcript(role: Role, server: bytes, client: bytes) -> bytes:
    """What ``role`` signs on a connection whose challenges are ``server`` and ``client``."""
    return _DOMAIN + role.encode() + b"\x00" + server + client


def prove(role: Role, server: bytes, client: bytes, key: Ed25519PrivateKey) -> bytes:
    """``role``'s signature on the connection: 64 bytes."""
    return b64d(sign(transcript(role, server, client), key))


def verify_proof(
    role: Role, server: bytes, client: bytes, signature: bytes, keys: PublicKeys
) -> None:
    """``BadSignature`` unless ``signature`` is ``role``'s (any signing key it may still use)."""
    if len(signature) != SIGNATURE:
        raise BadSignature(f"a proof is {SIGNATURE} bytes, not {len(signature)}")
    verify_by(transcript(role, server, client), b64e(signature), keys)


def hello(server: bytes) -> bytes:
    return MAGIC + server


def parse_hello(data: bytes) -> bytes:
    """The server challenge of the token service's hello; ``MalformedMessage`` if it is not one."""
    if len(data) != HELLO or not data.startswith(MAGIC):
        raise MalformedMessage("not the token service's hello")
    return data[len(MAGIC) :]


def hub_hello(server: bytes, key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """The hub's hello frame (its challenge and its proof), and its challenge."""
    client = challenge()
    return frame(0, client + prove("hub", server, client, key)), client


def open_hub_hello(server: bytes, body: bytes, hub: PublicKeys) -> bytes:
    """The hub's challenge, if ``body`` proves it is the hub; ``BadSignature`` if not."""
    if len(body) != HUB_HELLO:
        raise MalformedMessage(f"the hub's hello is {HUB_HELLO} bytes, not {len(body)}")
    client, signature = body[:CHALLENGE], body[CHALLENGE:]
    verify_proof("hub", server, client, signature, hub)
    return client


def frame(request_id: int, body: bytes) -> bytes:
    if len(body) > MAX_FRAME:
        raise MessageTooLarge(f"a frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body), request_id) + body


def parse_header(data: bytes, limit: int = MAX_FRAME) -> tuple[int, int]:
    """(body length, request id); ``MessageTooLarge`` when the body would exceed ``limit``."""
    length, request_id = HEADER.unpack(data)
    if length > limit:
        raise MessageTooLarge(f"a frame of {length} bytes exceeds {limit}")
    return length, request_id
