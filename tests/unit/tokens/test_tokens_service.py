"""TokenService: one result per item, in order; bad items refused in place; bad bodies answered."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from tokens_helpers import CITY, MASTER, PENSION, TAX, rrc

from hub.wire import (
    MAX_MESSAGE_BYTES,
    IssueBatch,
    IssueItem,
    Sealed,
    TokenOk,
    TokenRefusal,
    TranslateBatch,
    TranslateItem,
    TranslateResult,
    decode_token_result,
    encode,
    seal,
)
from token_service import KeyRing, TokenService, service_keys

RING = KeyRing(MASTER)
SERVICE = TokenService.from_keyring(RING)
SEAL_TO = SERVICE.seal_public_key


def token(code: str, office: str = CITY) -> str:
    return RING.token_for(RING.link_id(code), office)


def codes(result: TranslateResult) -> list[str]:
    return [i.code if isinstance(i, TokenRefusal) else "ok" for i in result.items]


def test_translate_batch_with_mixed_good_and_bad_items() -> None:
    good = token(rrc(1))
    forged = token(rrc(2), PENSION)  # presented by the city: not its token
    unknown = "B" + good[1:]  # version byte 5: a key this service never had
    batch = TranslateBatch(
        items=(
            TranslateItem(token=good, holder=CITY, targets=(PENSION, TAX)),
            TranslateItem(token=forged, holder=CITY, targets=(TAX,)),
            TranslateItem(token="A" * 48, holder=CITY, targets=(TAX,)),  # wire-valid, 36 bytes
            TranslateItem(token=unknown, holder=CITY, targets=(TAX,)),
            TranslateItem(token=good, holder=CITY, targets=(CITY,)),
        )
    )
    result = SERVICE.handle(batch)
    assert codes(result) == ["ok", "token.forged", "token.malformed", "token.unknown_version", "ok"]
    first = result.items[0]
    assert isinstance(first, TokenOk)
    assert first.tokens == (token(rrc(1), PENSION), token(rrc(1), TAX))
    assert result.items[4] == TokenOk(tokens=(good,))


def test_issue_batch_good_and_bad_sealed_codes() -> None:
    stranger = X25519PrivateKey.generate().public_key()
    sealed = seal(rrc(3).encode("ascii"), SEAL_TO)
    altered = Sealed(epk=sealed.epk, ct="A" + sealed.ct[1:])
    if altered.ct == sealed.ct:
        altered = Sealed(epk=sealed.epk, ct="B" + sealed.ct[1:])
    bad_check = rrc(4)[:-1] + str((int(rrc(4)[-1]) + 1) % 10)
    items = [
        (seal(rrc(3).encode("ascii"), SEAL_TO), "ok"),
        (seal(rrc(3).encode("ascii"), stranger), "token.unsealable"),
        (altered, "token.unsealable"),
        (seal(bad_check.encode("ascii"), SEAL_TO), "token.bad_rrc"),
        (seal(b"123456789018", SEAL_TO), "token.bad_rrc"),  # a number is not a code
        (seal(b"\xff" * 11, SEAL_TO), "token.bad_rrc"),
        (seal(rrc(3).encode("ascii") + b"\n", SEAL_TO), "token.bad_rrc"),
        (seal(rrc(5).encode("ascii"), SEAL_TO), "ok"),
    ]
    batch = IssueBatch(items=tuple(IssueItem(rrc=s, targets=(CITY, TAX)) for s, _ in items))
    result = SERVICE.handle(batch)
    assert codes(result) == [expected for _, expected in items]
    assert result.items[0] == TokenOk(tokens=(token(rrc(3), CITY), token(rrc(3), TAX)))
    assert result.items[7] == TokenOk(tokens=(token(rrc(5), CITY), token(rrc(5), TAX)))


def test_refusals_never_carry_the_code_or_the_token() -> None:
    sealed = seal(b"12345678901", SEAL_TO)  # bad check digit
    issue = SERVICE.handle(IssueBatch(items=(IssueItem(rrc=sealed, targets=(CITY,)),)))
    forged = token(rrc(6), PENSION)
    translate = SERVICE.handle(
        TranslateBatch(items=(TranslateItem(token=forged, holder=CITY, targets=(TAX,)),))
    )
    text = encode(issue).decode() + encode(translate).decode()
    assert "12345678901" not in text
    assert forged not in text


async def test_handle_bytes_round_trip() -> None:
    batch = TranslateBatch(items=(TranslateItem(token=token(rrc(7)), holder=CITY, targets=(TAX,)),))
    reply = decode_token_result(await SERVICE.handle_bytes(encode(batch)))
    assert reply.items == (TokenOk(tokens=(token(rrc(7), TAX),)),)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "wire.malformed"),
        (b"", "wire.malformed"),
        (b'{"kind": "translate", "items": []}', "wire.malformed"),
        (b'{"kind": "lookup", "items": [{"number": "123456789018"}]}', "wire.malformed"),
        (
            b'{"kind": "translate", "items": [{"token": "x", "holder": "a", "targets": ["b"]}]}',
            "wire.malformed",
        ),
        (b"[" * (MAX_MESSAGE_BYTES + 1), "wire.too_large"),
        (b"\xff\xfe\x00", "wire.malformed"),
    ],
)
async def test_an_undecodable_request_gets_exactly_one_refusal(body: bytes, code: str) -> None:
    reply = decode_token_result(await SERVICE.handle_bytes(body))
    assert len(reply.items) == 1
    (item,) = reply.items
    assert isinstance(item, TokenRefusal)
    assert item.code == code
    assert item.reason
    assert "123456789018" not in item.reason


def test_keys_derive_from_the_master_secret() -> None:
    keys = service_keys(RING)
    assert keys.public.seal_b64 == service_keys(KeyRing(MASTER)).public.seal_b64
    assert keys.public.seal_b64 != service_keys(KeyRing(bytes(32))).public.seal_b64
