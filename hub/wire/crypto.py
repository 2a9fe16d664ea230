"""What makes a message authentic and a payload private: pure functions over bytes.

- Signatures: Ed25519 over the exact body bytes (detached; carried as the ``renkei-sig`` header).
  An identity may have earlier signing keys that are still accepted while its key is rotated
  (``PublicKeys.earlier``, ``verify_by``): no key id on the wire, the current key is tried first.
- Sealing (wire version 2): HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256),
  HKDF-SHA256 and ChaCha20-Poly1305, from ``cryptography``; ``info`` names the use. HPKE binds
  the recipient's public key into the key schedule itself. The seal of version 1 (an ephemeral
  X25519 agreement, HKDF-SHA256, ChaCha20-Poly1305 with the recipient's key as associated
  data) is still opened, never made, during the change.

Keys are ``cryptography`` objects (how they are made, stored and loaded); the per-message
Ed25519 operations run in libsodium (PyNaCl): per query four verifications at 0.57 of OpenSSL's
time, four signatures at 0.73 (bench/crypto_bench.py, which also times both seals).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError, CryptoError

from hub.wire.base import B64_MAX
from hub.wire.exceptions import BadSignature, SealError
from hub.wire.messages import Sealed, SealedV1

__all__ = [
    "SEALED_MAX_PLAIN",
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
    "verify_by",
]

SIGNATURE_HEADER = "renkei-sig"
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw
_NONE = serialization.NoEncryption()
_INFO_V1 = b"renkei seal v1"
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_HPKE_INFO = b"renkei seal v2"
_ENC_SIZE = 32  # HPKE's encapsulated key for DHKEM(X25519): the ephemeral public key
_TAG_SIZE = 16  # ChaCha20-Poly1305's tag, after the ciphertext
SEALED_MAX_PLAIN: Final = B64_MAX * 3 // 4 - _TAG_SIZE
"""The most a ``Sealed`` holds: its ``ct`` (ciphertext and tag, base64url) fills ``B64``."""
_NOT_OURS = "the payload is not sealed for this office, or was altered"


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SealError("not base64url") from exc


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """What the network knows of an identity: its signature and sealing public keys, and the
    signing keys it had before, still accepted until they are retired (a key rotation).

    As text (``var/public/<identity>.pub``): ``verify.seal`` on the first line, then one line
    per earlier verify key, each base64url."""

    verify: Ed25519PublicKey
    seal: X25519PublicKey
    earlier: tuple[Ed25519PublicKey, ...] = ()

    @property
    def seal_b64(self) -> str:
        return b64e(self.seal.public_bytes(_RAW, _RAW_PUB))

    def to_text(self) -> str:
        lines = [f"{_verify_b64(self.verify)}.{self.seal_b64}"]
        return "\n".join(lines + [_verify_b64(k) for k in self.earlier])

    @classmethod
    def from_text(cls, text: str) -> PublicKeys:
        first, *rest = text.strip().splitlines() or [""]
        v, _, s = first.strip().partition(".")
        try:
            earlier = tuple(_verify_key(line.strip()) for line in rest if line.strip())
            keys = cls(_verify_key(v), seal_key(s), earlier)
        except ValueError as exc:
            raise SealError(f"not a public key pair: {exc}") from None
        every = [_verify_b64(k) for k in (keys.verify, *keys.earlier)]
        if len(set(every)) != len(every):
            raise SealError("not a public key pair: a signing key is listed twice")
        return keys


def _verify_b64(key: Ed25519PublicKey) -> str:
    return b64e(key.public_bytes(_RAW, _RAW_PUB))


def _verify_key(text: str) -> Ed25519PublicKey:
    if "." in text:
        raise ValueError("an earlier signing key is a verify key alone")
    return Ed25519PublicKey.from_public_bytes(b64d(text))


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
    """The X25519 public key of ``text`` (base64url); ``SealError`` if it is none.

    A provider seals every answer for the key a forwarded query names (``seal_to``): the few
    requesters' keys are parsed once each, not per answer (``_SEAL_KEYS``, bounded)."""
    found = _SEAL_KEYS.get(text)
    if found is not None:
        return found
    try:
        key = X25519PublicKey.from_public_bytes(b64d(text))
    except ValueError as exc:
        raise SealError(f"not an X25519 public key: {exc}") from None
    if len(_SEAL_KEYS) >= _SEAL_KEYS_MAX:  # keys are few and long-lived; this only bounds it
        _SEAL_KEYS.clear()
    _SEAL_KEYS[text] = key
    return key


_SEAL_KEYS: dict[str, X25519PublicKey] = {}  # base64url → key: public keys, nothing secret
_SEAL_KEYS_MAX = 1_000


_PRIVATE: dict[int, tuple[object, bytes, bytes]] = {}  # id(key) → (key, kept alive; its forms)


def _private(key: Ed25519PrivateKey | X25519PrivateKey) -> tuple[bytes, bytes]:
    """A private key in libsodium's forms, derived once per key object (an office has two):
    Ed25519 → (seed ‖ public key, public key); X25519 → (private key, public key)."""
    found = _PRIVATE.get(id(key))
    if found is not None and found[0] is key:
        return found[1], found[2]
    seed = key.private_bytes(_RAW, _RAW_PRIV, _NONE)
    if isinstance(key, Ed25519PrivateKey):
        public, secret = sodium.crypto_sign_seed_keypair(seed)
    else:
        public, secret = sodium.crypto_scalarmult_base(seed), seed
    if len(_PRIVATE) > 1_000:  # keys are few and long-lived; this only bounds a leak
        _PRIVATE.clear()
    _PRIVATE[id(key)] = (key, secret, public)
    return secret, public


def _public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(_RAW, _RAW_PUB)  # ~1 µs: not worth a cache (seal_to is per message)


def sign(body: bytes, key: Ed25519PrivateKey) -> str:
    return b64e(sodium.crypto_sign(body, _private(key)[0])[:64])


def verify(body: bytes, signature: str | None, key: Ed25519PublicKey) -> None:
    if not signature:
        raise BadSignature("the message carries no signature")
    try:
        sodium.crypto_sign_open(_signature(signature) + body, _public(key))
    except (BadSignatureError, CryptoError, SealError, ValueError):
        raise BadSignature("the signature does not match the sender's key") from None


def verify_by(body: bytes, signature: str | None, keys: PublicKeys) -> None:
    """``verify`` against an identity's current signing key, then against each earlier one it
    may still sign with (during a rotation); ``BadSignature`` when none matches."""
    try:
        verify(body, signature, keys.verify)
    except BadSignature:
        for key in keys.earlier:
            try:
                verify(body, signature, key)
            except BadSignature:
                continue
            return
        raise


def _signature(text: str) -> bytes:
    sig = b64d(text)
    if len(sig) != 64:  # libsodium would read a short one's missing bytes from the body
        raise ValueError("an Ed25519 signature is 64 bytes")
    return sig


def seal(plaintext: bytes, recipient: X25519PublicKey) -> Sealed:
    """``plaintext`` sealed for ``recipient``; ``SealError`` when it is longer than a seal holds
    (``SEALED_MAX_PLAIN``): the caller must send less, not a message the network refuses."""
    if len(plaintext) > SEALED_MAX_PLAIN:
        raise SealError(f"{len(plaintext)} bytes exceed a seal's {SEALED_MAX_PLAIN}")
    out = _HPKE.encrypt(plaintext, recipient, info=_HPKE_INFO)
    return Sealed(epk=b64e(out[:_ENC_SIZE]), ct=b64e(out[_ENC_SIZE:]))


def open_sealed(sealed: Sealed | SealedV1, key: X25519PrivateKey) -> bytes:
    """The plaintext of a seal of either version; ``SealError`` if it is not for ``key``."""
    if isinstance(sealed, SealedV1):
        return _open_v1(sealed, key)
    enc = b64d(sealed.epk)
    if len(enc) != _ENC_SIZE:
        raise SealError(_NOT_OURS)
    try:
        return _HPKE.decrypt(enc + b64d(sealed.ct), key, info=_HPKE_INFO)
    except (InvalidTag, ValueError):
        raise SealError(_NOT_OURS) from None


def _key_v1(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=epk + recipient, info=_INFO_V1).derive(shared)


def _open_v1(sealed: SealedV1, key: X25519PrivateKey) -> bytes:
    epk = b64d(sealed.epk)
    if len(epk) != 32:
        raise SealError(_NOT_OURS)
    try:
        private, rcpt = _private(key)
        shared = sodium.crypto_scalarmult(private, epk)  # a low-order epk raises, never all-zero
        return ChaCha20Poly1305(_key_v1(shared, epk, rcpt)).decrypt(
            b64d(sealed.nonce), b64d(sealed.ct), rcpt
        )
    except (InvalidTag, ValueError, CryptoError, RuntimeError):
        raise SealError(_NOT_OURS) from None
