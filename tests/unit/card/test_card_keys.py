"""The card's private-key operation: PKCS#1 v1.5 type-1 padding done by the card."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo, Prehashed

from card_service.card.keys import generate_key, load_key, public_der, sign_pkcs1_type1

KEY = load_key(generate_key())

PREFIXES = {
    "sha1": ("3021300906052B0E03021A05000414", hashes.SHA1()),
    "sha256": ("3031300D060960864801650304020105000420", hashes.SHA256()),
    "sha384": ("3041300D060960864801650304020205000430", hashes.SHA384()),
    "sha512": ("3051300D060960864801650304020305000440", hashes.SHA512()),
}


def textbook(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """The reference: ``(00 01 FF…FF 00 || data)^d mod n``, as PKCS#1 writes it."""
    em = b"\x00\x01" + b"\xff" * (253 - len(data)) + b"\x00" + data
    d, n = key.private_numbers().d, key.public_key().public_numbers().n
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(256, "big")


class SignOnly:
    """A key that signs through the library and gives out nothing else: no private numbers."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key_size = key.key_size
        self.sign = key.sign

    def private_numbers(self) -> None:
        raise AssertionError("the card did arithmetic of its own on the private key")


@pytest.mark.parametrize("name", sorted(PREFIXES))
def test_a_digest_info_is_signed_as_the_standard_says(name: str) -> None:
    prefix, algo = PREFIXES[name]
    digest = hashlib.new(name, b"document").digest()
    data = bytes.fromhex(prefix) + digest
    sig = sign_pkcs1_type1(KEY, data)
    assert sig == textbook(KEY, data)
    KEY.public_key().verify(sig, digest, padding.PKCS1v15(), Prehashed(algo))


def test_any_data_up_to_k_minus_11_bytes_is_padded_as_given() -> None:
    for data in (b"\x01", b"not a digest info", bytes(245)):
        sig = sign_pkcs1_type1(KEY, data)
        assert sig == textbook(KEY, data)
        KEY.public_key().verify(sig, data, padding.PKCS1v15(), NoDigestInfo())
    with pytest.raises(ValueError, match="at most 245"):
        sign_pkcs1_type1(KEY, bytes(246))


def test_every_signature_is_the_librarys_constant_time_blinded_one() -> None:
    """No ``pow()`` on the private key in the card: it could only get at it through its numbers."""
    key = SignOnly(KEY)
    for data in (b"not a digest info", bytes.fromhex(PREFIXES["sha256"][0]) + bytes(32)):
        assert sign_pkcs1_type1(key, data) == textbook(KEY, data)  # type: ignore[arg-type]


def test_the_public_key_is_all_that_leaves() -> None:
    assert public_der(KEY)[:2] == b"\x30\x82"
    assert KEY.key_size == 2048
