"""The card's own cryptography: RSA-2048 key pairs made on the card, and the sign command's
raw private-key operation with the card applying PKCS#1 v1.5 type-1 padding itself.

The card signs whatever the reader sends (normally a DER DigestInfo) the way a real card
does: ``00 01 FF…FF 00 || data``, then ``m^d mod n``. For a standard DigestInfo (SHA-1,
SHA-2) OpenSSL does it (same bytes: the scheme is deterministic); other data takes a raw CRT
path, checked against the public key before it leaves (a fault would otherwise leak the key).
Pure apart from key generation's randomness.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

__all__ = [
    "KEY_BITS",
    "generate_key",
    "load_key",
    "public_der",
    "raw_pkcs1_type1",
    "sign_pkcs1_type1",
]

KEY_BITS = 2048
# DER DigestInfo prefixes (RFC 8017 §9.2 note 1): for these OpenSSL computes the same bytes
_DIGEST_INFOS: dict[bytes, hashes.HashAlgorithm] = {
    # the card signs what it is given; older middleware still sends SHA-1 DigestInfos
    bytes.fromhex("3021300906052B0E03021A05000414"): hashes.SHA1(),  # noqa: S303
    bytes.fromhex("302D300D06096086480165030402040500041C"): hashes.SHA224(),
    bytes.fromhex("3031300D060960864801650304020105000420"): hashes.SHA256(),
    bytes.fromhex("3041300D060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300D060960864801650304020305000440"): hashes.SHA512(),
}


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

    PKCS#1 v1.5 is deterministic, so for a standard DigestInfo OpenSSL's constant-time
    signature gives exactly these bytes, ten times faster; anything else takes the raw path.
    """
    for prefix, algo in _DIGEST_INFOS.items():
        if data.startswith(prefix) and len(data) == len(prefix) + algo.digest_size:
            return key.sign(data[len(prefix) :], padding.PKCS1v15(), Prehashed(algo))
    return raw_pkcs1_type1(key, data)


def raw_pkcs1_type1(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """The raw path: pad, then ``m^d mod n`` by the CRT, checked before it leaves."""
    k = (key.key_size + 7) // 8
    if len(data) > k - 11:
        raise ValueError(f"at most {k - 11} bytes can be signed, got {len(data)}")
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    m = int.from_bytes(em, "big")
    priv = key.private_numbers()
    pub = priv.public_numbers
    s1 = pow(m, priv.dmp1, priv.p)
    s2 = pow(m, priv.dmq1, priv.q)
    s = s2 + (priv.iqmp * (s1 - s2) % priv.p) * priv.q
    if pow(s, pub.e, pub.n) != m:
        raise ArithmeticError("the signature does not verify (fault)")
    return s.to_bytes(k, "big")
