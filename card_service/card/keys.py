"""The card's own cryptography: RSA-2048 key pairs made on the card, and the sign command's
private-key operation with the card applying PKCS#1 v1.5 type-1 padding itself.

The card signs whatever the reader sends (normally a DER DigestInfo) the way a real card
does: ``00 01 FF…FF 00 || data``, then ``m^d mod n``. OpenSSL does it, through
``cryptography``'s ``NoDigestInfo`` (the data is padded as it is, no DigestInfo added):
constant-time and blinded, and OpenSSL checks its CRT result before it leaves. Pure apart
from key generation's randomness.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo

__all__ = [
    "KEY_BITS",
    "generate_key",
    "load_key",
    "public_der",
    "sign_pkcs1_type1",
]

KEY_BITS = 2048


def generate_key() -> bytes:
    """A new private key as PKCS#8 DER (it stays in the card state)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(der: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the card holds RSA keys only")
    return key


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    """SubjectPublicKeyInfo, DER: what the card hands out at generation."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_pkcs1_type1(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """``RSASP1(EMSA-PKCS1-v1_5 type 1 padding of data)``; ValueError when data is too long.

    Whatever the data (a DigestInfo of any hash, or anything else up to k − 11 bytes), the
    card pads it as given; PKCS#1 v1.5 is deterministic, so the bytes are those of the
    textbook operation.
    """
    limit = (key.key_size + 7) // 8 - 11
    if len(data) > limit:
        raise ValueError(f"at most {limit} bytes can be signed, got {len(data)}")
    return key.sign(data, padding.PKCS1v15(), NoDigestInfo())
