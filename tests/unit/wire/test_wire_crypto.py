"""Signatures prove who sent the exact bytes; sealed payloads open only for their recipient."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hpke, serialization
from hypothesis import given
from hypothesis import strategies as st

from hub.wire import (
    BadSignature,
    OfficeKeys,
    PublicKeys,
    Sealed,
    SealedV1,
    SealError,
    b64d,
    b64e,
    crypto,
    open_sealed,
    seal,
    seal_key,
    sign,
    verify,
    verify_by,
)

ALICE = OfficeKeys.from_seed(bytes(range(64)))
BOB = OfficeKeys.from_seed(bytes(range(64, 128)))
RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


def flip(text: str, index: int = 0) -> str:
    """``text`` (base64url) with one bit of its decoded bytes flipped."""
    raw = bytearray(b64d(text))
    raw[index % len(raw)] ^= 0x01
    return b64e(bytes(raw))


def raw_public(keys: PublicKeys) -> tuple[bytes, bytes]:
    return keys.verify.public_bytes(RAW, RAW_PUB), keys.seal.public_bytes(RAW, RAW_PUB)


# ---- base64url ---------------------------------------------------------------------------


@given(st.binary())
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64e(data)
    assert "=" not in text
    assert b64d(text) == data


@pytest.mark.parametrize("text", ["A", "AAAAA", "é", "Ａ"], ids=["one", "five", "accent", "wide"])
def test_text_that_is_not_base64url_is_a_seal_error(text: str) -> None:
    with pytest.raises(SealError, match="not base64url"):
        b64d(text)


# ---- signatures --------------------------------------------------------------------------


@given(st.binary(max_size=4096))
def test_a_signature_verifies_the_exact_body(body: bytes) -> None:
    verify(body, sign(body, ALICE.signing), ALICE.public.verify)


@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0))
def test_an_altered_body_does_not_verify(body: bytes, index: int) -> None:
    signature = sign(body, ALICE.signing)
    altered = bytearray(body)
    altered[index % len(body)] ^= 0x80
    with pytest.raises(BadSignature, match="does not match"):
        verify(bytes(altered), signature, ALICE.public.verify)


def test_a_body_with_a_byte_appended_does_not_verify() -> None:
    with pytest.raises(BadSignature):
        verify(b"body ", sign(b"body", ALICE.signing), ALICE.public.verify)


@given(st.integers(min_value=0, max_value=63))
def test_an_altered_signature_does_not_verify(index: int) -> None:
    signature = flip(sign(b"body", ALICE.signing), index)
    with pytest.raises(BadSignature, match="does not match"):
        verify(b"body", signature, ALICE.public.verify)


@pytest.mark.parametrize("signature", [None, ""])
def test_a_missing_signature_is_bad(signature: str | None) -> None:
    with pytest.raises(BadSignature, match="carries no signature") as caught:
        verify(b"body", signature, ALICE.public.verify)
    assert caught.value.code == "wire.bad_signature"


def test_a_signature_by_another_key_is_bad() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify(b"body", sign(b"body", BOB.signing), ALICE.public.verify)


@pytest.mark.parametrize("signature", ["A", "AAAA", "é", "!!!", b64e(b"\0" * 64), b64e(b"\0" * 65)])
def test_a_garbage_signature_is_bad(signature: str) -> None:
    with pytest.raises(BadSignature):
        verify(b"body", signature, ALICE.public.verify)


def test_a_short_signature_cannot_borrow_bytes_from_the_body() -> None:
    full = b64d(sign(b"body", ALICE.signing))
    # signature ‖ body is what libsodium checks: 63 bytes of it + the 64th at the body's front
    with pytest.raises(BadSignature):
        verify(full[63:] + b"body", b64e(full[:63]), ALICE.public.verify)


# ---- sealing (version 2: HPKE) ----------------------------------------------------------


@given(st.binary(max_size=4096))
def test_a_sealed_payload_opens_for_its_recipient(plaintext: bytes) -> None:
    sealed = seal(plaintext, BOB.public.seal)
    assert sealed.v == 2
    assert open_sealed(sealed, BOB.sealing) == plaintext


def test_the_seal_is_rfc_9180_hpke_x25519_sha256_chacha20poly1305() -> None:
    """Any HPKE implementation opens it: here ``cryptography``'s own suite, outside hub.wire."""
    sealed = seal(b"secret answer", BOB.public.seal)
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    opened = suite.decrypt(b64d(sealed.epk) + b64d(sealed.ct), BOB.sealing, info=b"renkei seal v2")
    assert opened == b"secret answer"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    one, two = seal(b"same", BOB.public.seal), seal(b"same", BOB.public.seal)
    assert one.epk != two.epk
    assert one.ct != two.ct


def test_the_ciphertext_does_not_contain_the_plaintext() -> None:
    sealed = seal(b"123456789018" * 4, BOB.public.seal)
    assert b"123456789018" not in b64d(sealed.ct)


def test_a_payload_sealed_for_another_office_does_not_open() -> None:
    with pytest.raises(SealError, match="not sealed for this office"):
        open_sealed(seal(b"secret", BOB.public.seal), ALICE.sealing)


@pytest.mark.parametrize("field", ["epk", "ct"])
@pytest.mark.parametrize("index", [0, 5, 31, -1])
def test_an_altered_payload_does_not_open(field: str, index: int) -> None:
    sealed = seal(b"secret answer", BOB.public.seal)
    altered = sealed.model_copy(update={field: flip(getattr(sealed, field), index)})
    with pytest.raises(SealError, match="not sealed for this office, or was altered"):
        open_sealed(altered, BOB.sealing)


@given(st.binary(max_size=256), st.integers(min_value=0))
def test_any_flipped_bit_of_a_seal_is_refused(plaintext: bytes, bit: int) -> None:
    sealed = seal(plaintext, BOB.public.seal)
    raw = bytearray(b64d(sealed.epk) + b64d(sealed.ct))
    raw[bit // 8 % len(raw)] ^= 1 << bit % 8
    altered = Sealed(epk=b64e(bytes(raw[:32])), ct=b64e(bytes(raw[32:])))
    with pytest.raises(SealError):
        open_sealed(altered, BOB.sealing)


@pytest.mark.parametrize(
    "change",
    [
        {"epk": "A"},
        {"epk": ""},
        {"epk": b64e(b"\0" * 32)},  # a low-order point: no shared secret
        {"epk": b64e(b"\1" + b"\0" * 31)},  # another one (u = 1)
        {"epk": b64e(b"\1" * 33)},
        {"ct": ""},
        {"ct": "AAAAA"},
        {"ct": b64e(b"short")},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))[:8]!r}",
)
def test_a_garbage_payload_is_a_seal_error(change: dict[str, str]) -> None:
    sealed = seal(b"secret answer", BOB.public.seal).model_copy(update=change)
    with pytest.raises(SealError):
        open_sealed(sealed, BOB.sealing)


def test_a_truncated_ciphertext_does_not_open() -> None:
    sealed = seal(b"secret answer", BOB.public.seal)
    truncated = Sealed(epk=sealed.epk, ct=b64e(b64d(sealed.ct)[:-1]))
    with pytest.raises(SealError):
        open_sealed(truncated, BOB.sealing)


# ---- sealing (version 1: read during the change, never written) --------------------------

# Sealed for BOB by the version-1 code (commit 5c14aef), kept as it was sent.
V1_SEALED = SealedV1(
    epk="bg_9aoaStNFdSoKcgIN19ox1baQLMh_42NxOauXWFXU",
    nonce="xU8RVDFGhmgJWLQF",
    ct="A6MhFYLhWdsfs2SJInljNGwwmMK0lkYnsLup91LdUbkbaQ",
)
V1_PLAINTEXT = b'{"income":4200000}'


def test_a_version_1_seal_still_opens() -> None:
    assert open_sealed(V1_SEALED, BOB.sealing) == V1_PLAINTEXT


def test_a_version_1_seal_opens_for_its_recipient_only() -> None:
    with pytest.raises(SealError, match="not sealed for this office"):
        open_sealed(V1_SEALED, ALICE.sealing)


@pytest.mark.parametrize("field", ["epk", "nonce", "ct"])
@pytest.mark.parametrize("index", [0, 5, -1])
def test_an_altered_version_1_seal_does_not_open(field: str, index: int) -> None:
    altered = V1_SEALED.model_copy(update={field: flip(getattr(V1_SEALED, field), index)})
    with pytest.raises(SealError):
        open_sealed(altered, BOB.sealing)


@pytest.mark.parametrize(
    "change",
    [
        {"epk": b64e(b"\0" * 32)},
        {"epk": b64e(b"\1" * 31)},
        {"nonce": "é"},
        {"nonce": b64e(b"\0" * 11)},
        {"nonce": ""},
        {"ct": b64e(b"short")},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))[:8]!r}",
)
def test_a_garbage_version_1_seal_is_a_seal_error(change: dict[str, str]) -> None:
    with pytest.raises(SealError):
        open_sealed(V1_SEALED.model_copy(update=change), BOB.sealing)


def test_a_version_1_seal_does_not_open_as_version_2() -> None:
    """The version is the seal's own: the same bytes under the other version are refused."""
    as_v2 = Sealed(epk=V1_SEALED.epk, ct=V1_SEALED.ct)
    with pytest.raises(SealError):
        open_sealed(as_v2, BOB.sealing)


# ---- public keys and seeds ---------------------------------------------------------------


@given(st.binary(min_size=64, max_size=64))
def test_public_keys_round_trip_through_text(seed: bytes) -> None:
    public = OfficeKeys.from_seed(seed).public
    text = public.to_text()
    assert "\n" not in text
    assert raw_public(PublicKeys.from_text(text)) == raw_public(public)
    assert raw_public(PublicKeys.from_text(f"  {text}\n")) == raw_public(public)


def test_the_seal_half_of_the_text_is_the_seal_key() -> None:
    public = ALICE.public
    assert public.to_text().split(".")[1] == public.seal_b64
    assert seal_key(public.seal_b64).public_bytes(RAW, RAW_PUB) == raw_public(public)[1]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "a.b",
        ".",
        "é.é",
        ALICE.public.to_text().split(".")[0],  # the verify key alone
        "." + ALICE.public.seal_b64,  # the seal key alone
        ALICE.public.to_text()[:-2],
        b64e(b"\0" * 31) + "." + ALICE.public.seal_b64,
    ],
    ids=["empty", "word", "short", "dot", "accents", "no-seal", "no-verify", "cut", "31-bytes"],
)
def test_garbage_public_key_text_is_a_seal_error(text: str) -> None:
    with pytest.raises(SealError):
        PublicKeys.from_text(text)


@pytest.mark.parametrize("text", ["", "A", b64e(b"\1" * 31), b64e(b"\1" * 33)])
def test_a_garbage_seal_key_is_a_seal_error(text: str) -> None:
    with pytest.raises(SealError, match=r"not an X25519 public key|not base64url"):
        seal_key(text)


@given(st.binary(min_size=64, max_size=64))
def test_office_keys_round_trip_through_their_seed(seed: bytes) -> None:
    keys = OfficeKeys.from_seed(seed)
    assert keys.to_seed() == seed
    again = OfficeKeys.from_seed(keys.to_seed())
    assert raw_public(again.public) == raw_public(keys.public)


def test_the_same_seed_gives_the_same_keys_and_they_work() -> None:
    keys = OfficeKeys.from_seed(ALICE.to_seed())
    verify(b"body", sign(b"body", keys.signing), ALICE.public.verify)
    assert open_sealed(seal(b"x", ALICE.public.seal), keys.sealing) == b"x"


def test_generated_keys_differ_and_round_trip() -> None:
    one, two = OfficeKeys.generate(), OfficeKeys.generate()
    assert one.to_seed() != two.to_seed()
    assert len(one.to_seed()) == 64
    assert raw_public(OfficeKeys.from_seed(one.to_seed()).public) == raw_public(one.public)


@pytest.mark.parametrize("size", [0, 32, 63, 65])
def test_a_seed_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        OfficeKeys.from_seed(b"\1" * size)


# ---- earlier signing keys: a rotation ----------------------------------------------------

CAROL = OfficeKeys.from_seed(bytes(range(128, 192)))


def rotated(new: OfficeKeys, *old: OfficeKeys) -> PublicKeys:
    """``new``'s public keys with the signing keys of ``old`` still accepted."""
    return PublicKeys(new.public.verify, new.public.seal, tuple(k.public.verify for k in old))


def test_earlier_signing_keys_round_trip_through_text_one_line_each() -> None:
    keys = rotated(BOB, ALICE, CAROL)
    text = keys.to_text()
    assert text.splitlines()[0] == BOB.public.to_text()
    assert text.splitlines()[1:] == [
        ALICE.public.to_text().split(".")[0],
        CAROL.public.to_text().split(".")[0],
    ]
    again = PublicKeys.from_text(text + "\n\n")
    assert raw_public(again) == raw_public(keys)
    assert [k.public_bytes(RAW, RAW_PUB) for k in again.earlier] == [
        k.public_bytes(RAW, RAW_PUB) for k in keys.earlier
    ]
    assert PublicKeys.from_text(BOB.public.to_text()).earlier == ()


def test_verify_by_accepts_the_current_and_every_earlier_key_and_nothing_else() -> None:
    keys = rotated(BOB, ALICE)
    verify_by(b"body", sign(b"body", BOB.signing), keys)
    verify_by(b"body", sign(b"body", ALICE.signing), keys)  # not yet retired
    with pytest.raises(BadSignature):
        verify_by(b"body", sign(b"body", CAROL.signing), keys)
    with pytest.raises(BadSignature):
        verify_by(b"other", sign(b"body", ALICE.signing), keys)
    with pytest.raises(BadSignature):  # retired: the earlier key is gone from the file
        verify_by(b"body", sign(b"body", ALICE.signing), PublicKeys.from_text(BOB.public.to_text()))
    with pytest.raises(BadSignature, match="carries no signature"):
        verify_by(b"body", None, keys)


@pytest.mark.parametrize(
    "text",
    [
        BOB.public.to_text() + "\n" + ALICE.public.to_text(),  # a pair, not a verify key
        BOB.public.to_text() + "\n" + "garbage",
        BOB.public.to_text() + "\n" + BOB.public.to_text().split(".")[0],  # current again
        rotated(BOB, ALICE, ALICE).to_text(),  # twice
    ],
    ids=["pair", "garbage", "current-again", "twice"],
)
def test_a_bad_earlier_key_line_is_a_seal_error(text: str) -> None:
    with pytest.raises(SealError):
        PublicKeys.from_text(text)


def test_a_reader_of_the_one_line_format_refuses_a_file_with_earlier_keys() -> None:
    """The release before earlier keys read ``verify.seal`` with one partition: on a rotated
    file its seal key is two keys run together, which it refuses (it does not misread it).
    That is why every host is upgraded before the first rotation (docs/operations.md)."""
    s = rotated(BOB, ALICE).to_text().strip().partition(".")[2]
    with pytest.raises(SealError):
        seal_key(s)


# ---- parsed seal keys kept (bench/README.md, issue 19, the office nodes) --------------------


def test_a_seal_key_is_parsed_once_and_still_checked_every_time() -> None:
    """A provider seals each answer for its query's ``seal_to``: the same few requesters' keys,
    each parsed once."""
    text = BOB.public.seal_b64
    key = seal_key(text)
    assert seal_key(text) is key  # kept, not parsed again
    assert key.public_bytes(RAW, RAW_PUB) == raw_public(BOB.public)[1]
    for _ in range(2):  # a bad one is refused each time, never kept
        with pytest.raises(SealError):
            seal_key(b64e(b"\1" * 31))
    assert b64e(b"\1" * 31) not in crypto._SEAL_KEYS


def test_the_parsed_seal_keys_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_SEAL_KEYS", {})
    monkeypatch.setattr(crypto, "_SEAL_KEYS_MAX", 3)
    keys = [OfficeKeys.generate().public.seal_b64 for _ in range(7)]
    for text in keys:
        assert b64e(seal_key(text).public_bytes(RAW, RAW_PUB)) == text
        assert len(crypto._SEAL_KEYS) <= 3
    assert seal_key(keys[-1]) is seal_key(keys[-1])
