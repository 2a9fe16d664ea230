"""What makes a message authentic and a payload private: pure functions over bytes.

- Signatures: Ed25519 over the exact body bytes (detached; carried as the ``renkei-sig`` header).
- Sealing: an ephemeral X25519 key agreement with the recipient's key, HKDF-SHA256, then
  ChaCha20-Poly1305; the recipient's public key is bound in as associated data.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.wire.exceptions import BadSignature, SealError
from hub.wire.messages import Sealed

__all__ = [
    "SIGNATURE_HEADER",
    "OfficeKeys",
    "PublicKeys",
    "b64d",
    "b64e",
    "open_sealed",
    "seal",
    "seal_key",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "renkei-sig"
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw
_NONE = serialization.NoEncryption()
_INFO = b"renkei seal v1"


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SealError("not base64url") from exc


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """What the network knows of an office: its signature and sealing public keys."""

    verify: Ed25519PublicKey
    seal: X25519PublicKey

    @property
    def seal_b64(self) -> str:
        return b64e(self.seal.public_bytes(_RAW, _RAW_PUB))

    def to_text(self) -> str:
        return f"{b64e(self.verify.public_bytes(_RAW, _RAW_PUB))}.{self.seal_b64}"

    @classmethod
    def from_text(cls, text: str) -> PublicKeys:
        v, _, s = text.strip().partition(".")
        try:
            return cls(Ed25519PublicKey.from_public_bytes(b64d(v)), seal_key(s))
        except ValueError as exc:
            raise SealError(f"not a public key pair: {exc}") from None


@dataclass(frozen=True, slots=True)
class OfficeKeys:
    """An office's private keys. Never logged, never sent."""

    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey

    @classmethod
    def generate(cls) -> OfficeKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> OfficeKeys:
        """Both keys from 64 bytes of secret material (e.g. HKDF output)."""
        if len(seed) != 64:
            raise ValueError("an office key seed is 64 bytes")
        return cls(
            Ed25519PrivateKey.from_private_bytes(seed[:32]),
            X25519PrivateKey.from_private_bytes(seed[32:]),
        )

    def to_seed(self) -> bytes:
        return self.signing.private_bytes(_RAW, _RAW_PRIV, _NONE) + self.sealing.private_bytes(
            _RAW, _RAW_PRIV, _NONE
        )

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(self.signing.public_key(), self.sealing.public_key())


def seal_key(text: str) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(b64d(text))
    except ValueError as exc:
        raise SealError(f"not an X25519 public key: {exc}") from None


def sign(body: bytes, key: Ed25519PrivateKey) -> str:
    return b64e(key.sign(body))


def verify(body: bytes, signature: str | None, key: Ed25519PublicKey) -> None:
    if not signature:
        raise BadSignature("the message carries no signature")
    try:
        key.verify(b64d(signature), body)
    except (InvalidSignature, SealError, ValueError):
        raise BadSignature("the signature does not match the sender's key") from None


def _key(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=epk + recipient, info=_INFO).derive(shared)


def seal(plaintext: bytes, recipient: X25519PublicKey) -> Sealed:
    eph = X25519PrivateKey.generate()
    epk = eph.public_key().public_bytes(_RAW, _RAW_PUB)
    rcpt = recipient.public_bytes(_RAW, _RAW_PUB)
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(_key(eph.exchange(recipient), epk, rcpt)).encrypt(nonce, plaintext, rcpt)
    return Sealed(epk=b64e(epk), nonce=b64e(nonce), ct=b64e(ct))


def open_sealed(sealed: Sealed, key: X25519PrivateKey) -> bytes:
    try:
        epk = b64d(sealed.epk)
        rcpt = key.public_key().public_bytes(_RAW, _RAW_PUB)
        shared = key.exchange(X25519PublicKey.from_public_bytes(epk))
        return ChaCha20Poly1305(_key(shared, epk, rcpt)).decrypt(
            b64d(sealed.nonce), b64d(sealed.ct), rcpt
        )
    except (InvalidTag, ValueError):
        raise SealError("the payload is not sealed for this office, or was altered") from None
