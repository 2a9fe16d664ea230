"""The card's private-key operation: PKCS#1 v1.5 type-1 padding done by the card."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from card_service.card.keys import (
    generate_key,
    load_key,
    public_der,
    raw_pkcs1_type1,
    sign_pkcs1_type1,
)

KEY = load_key(generate_key())

PREFIXES = {
    "sha1": ("3021300906052B0E03021A05000414", hashes.SHA1()),
    "sha256": ("3031300D060960864801650304020105000420", hashes.SHA256()),
    "sha384": ("3041300D060960864801650304020205000430", hashes.SHA384()),
    "sha512": ("3051300D060960864801650304020305000440", hashes.SHA512()),
}


@pytest.mark.parametrize("name", sorted(PREFIXES))
def test_the_fast_path_gives_the_same_bytes_as_the_raw_operation(name: str) -> None:
    prefix, algo = PREFIXES[name]
    digest = hashlib.new(name, b"document").digest()
    data = bytes.fromhex(prefix) + digest
    sig = sign_pkcs1_type1(KEY, data)
    assert sig == raw_pkcs1_type1(KEY, data)
    KEY.public_key().verify(sig, digest, padding.PKCS1v15(), Prehashed(algo))


def test_any_data_up_to_k_minus_11_bytes_is_signed_raw() -> None:
    for data in (b"\x01", b"not a digest info", bytes(245)):
        sig = sign_pkcs1_type1(KEY, data)
        n = KEY.public_key().public_numbers()
        em = pow(int.from_bytes(sig, "big"), n.e, n.n).to_bytes(256, "big")
        assert em == b"\x00\x01" + b"\xff" * (253 - len(data)) + b"\x00" + data
    with pytest.raises(ValueError, match="at most 245"):
        sign_pkcs1_type1(KEY, bytes(246))


def test_the_public_key_is_all_that_leaves() -> None:
    assert public_der(KEY)[:2] == b"\x30\x82"
    assert KEY.key_size == 2048
