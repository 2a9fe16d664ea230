"""KeyRing: tokens are deterministic, office-bound, authenticated, versioned, table-free."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tokens_helpers import CITY, MASTER, PENSION, TAX, rrc

from agencies.jlis.numbers import NumberGenerator
from token_service import (
    TOKEN_CHARS,
    BadResidentCode,
    ForgedToken,
    InvalidLink,
    InvalidOffice,
    KeyConfigError,
    KeyRing,
    MalformedToken,
    Secret,
    TokenError,
    UnknownKeyVersion,
)

RING = KeyRing(MASTER)
WIRE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,120}$")  # hub.wire.base.Token
people = st.integers(0, 10**10 - 1).map(rrc)
offices = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def token_of(code: str, office: str = CITY, ring: KeyRing = RING) -> str:
    return ring.token_for(ring.link_id(code), office)


@given(people, offices, offices)
def test_round_trip_through_another_office(code: str, a: str, b: str) -> None:
    link = RING.link_id(code)
    token_a = RING.token_for(link, a)
    assert len(token_a) == TOKEN_CHARS
    assert WIRE_TOKEN.match(token_a)
    assert RING.link_of(token_a, a) == link
    (token_b,) = RING.translate(token_a, a, (b,))
    assert token_b == RING.token_for(link, b)
    assert RING.translate(token_b, b, (a,)) == (token_a,)


@given(people)
def test_several_targets_in_order(code: str) -> None:
    token = token_of(code)
    assert RING.translate(token, CITY, (PENSION, TAX, CITY)) == (
        token_of(code, PENSION),
        token_of(code, TAX),
        token,
    )
    assert RING.translate(token, CITY, ()) == ()


def test_deterministic_per_master_and_office() -> None:
    code = rrc(1234567890)
    assert token_of(code) == token_of(code)
    assert token_of(code, ring=KeyRing(MASTER)) == token_of(code)
    assert token_of(code, ring=KeyRing(Secret(MASTER))) == token_of(code)
    assert token_of(code, ring=KeyRing(bytes(32))) != token_of(code)


def test_distinct_offices_get_unrelated_tokens() -> None:
    same = 0
    for i in range(500):
        a, b = token_of(rrc(i), CITY), token_of(rrc(i), PENSION)
        same += sum(x == y for x, y in zip(a[1:], b[1:], strict=True))  # [0] is the version
    assert same / 500 < 3  # 43 positions, 1 in 64 alike by chance: about 0.7


@given(people)
def test_a_token_from_another_office_is_refused_as_forged(code: str) -> None:
    with pytest.raises(ForgedToken) as info:
        RING.translate(token_of(code, CITY), PENSION, (TAX,))
    assert info.value.code == "token.forged"
    assert "altered" in str(info.value)
    assert "another office" in str(info.value)


@given(people, st.integers(1, 32), st.integers(1, 255))
def test_any_altered_byte_is_refused(code: str, index: int, mask: int) -> None:
    raw = bytearray(unb64(token_of(code)))
    raw[index] ^= mask
    with pytest.raises(ForgedToken):
        RING.link_of(b64(bytes(raw)), CITY)


@given(people, st.integers(1, 255))
def test_an_altered_version_byte_is_refused(code: str, mask: int) -> None:
    raw = bytearray(unb64(token_of(code)))
    raw[0] ^= mask
    two = KeyRing(MASTER, current=1, known=(1, 2, 3))
    with pytest.raises((UnknownKeyVersion, ForgedToken)):
        two.link_of(b64(bytes(raw)), CITY)


@given(people, st.data())
def test_any_altered_character_is_refused(code: str, data: st.DataObject) -> None:
    token = token_of(code)
    i = data.draw(st.integers(0, len(token) - 1))
    ch = data.draw(st.characters(codec="utf-8").filter(lambda c: c != token[i]))
    with pytest.raises(TokenError) as info:
        RING.link_of(token[:i] + ch + token[i + 1 :], CITY)
    assert info.value.code in {"token.malformed", "token.forged", "token.unknown_version"}


def test_a_second_spelling_with_the_standard_alphabet_is_refused() -> None:
    token = next(t for t in (token_of(rrc(i)) for i in range(1000)) if "-" in t)
    with pytest.raises(MalformedToken):
        RING.link_of(token.replace("-", "+"), CITY)


def test_an_unknown_version_is_refused() -> None:
    raw = unb64(token_of(rrc(42)))
    with pytest.raises(UnknownKeyVersion) as info:
        RING.link_of(b64(b"\x07" + raw[1:]), CITY)
    assert info.value.code == "token.unknown_version"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "A" * 43,
        "A" * 45,
        "A" * 48,  # 36 bytes: decodes, wrong length
        "A" * 42 + "==",
        "é" * 44,
        "A" * 20 + " " + "A" * 23,
        "A" * 20 + "\n" + "A" * 23,
        "A" * 43 + ".",
    ],
)
def test_wrong_length_or_garbage_is_malformed(text: str) -> None:
    with pytest.raises(MalformedToken) as info:
        RING.translate(text, CITY, (PENSION,))
    assert info.value.code == "token.malformed"


@given(st.text(max_size=60))
def test_arbitrary_text_is_refused_with_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        RING.link_of(text, CITY)


def test_a_number_change_keeps_every_token() -> None:
    numbers = NumberGenerator(b"the numbering secret of j-lis..!")
    code = rrc(5550001234)
    old, new = numbers.number_for(code, 0), numbers.number_for(code, 1)
    assert old != new
    # J-LIS resolves either number to the same code; the link, so every token, follows it.
    tokens = {token_of(numbers.resolve(n)[0], TAX) for n in (old, new)}
    assert tokens == {token_of(code, TAX)}


def test_rotation_old_tokens_still_translate_and_output_is_current() -> None:
    v1, v2 = KeyRing(MASTER), KeyRing(MASTER, current=2, known=(1, 2))
    link = v1.link_id(rrc(77))
    old = v1.token_for(link, CITY)
    (fresh,) = v2.translate(old, CITY, (PENSION,))
    assert unb64(fresh)[0] == 2
    assert fresh == v2.token_for(link, PENSION)
    (retokenized,) = v2.translate(old, CITY, (CITY,))  # an office re-tokenizes its store
    assert retokenized != old
    assert v2.link_of(retokenized, CITY) == link
    with pytest.raises(UnknownKeyVersion):
        KeyRing(MASTER, current=2, known=(2,)).link_of(old, CITY)  # version 1 retired
    with pytest.raises(UnknownKeyVersion):
        v1.link_of(fresh, PENSION)  # a service that has not learned version 2 yet
    assert v2.current == 2
    assert v2.known == frozenset({1, 2})


def test_one_office_rotates_alone_through_its_three_stages() -> None:
    """docs/operations.md §5: the office's next version learned, then current, then alone."""
    link = RING.link_id(rrc(78))
    old = RING.token_for(link, CITY)
    learned = KeyRing(MASTER, offices={CITY: (1, (1, 2))})
    assert learned.token_for(link, CITY) == old  # still made under version 1
    nxt = learned.token_for(link, CITY, 2)
    assert unb64(nxt)[0] == 2
    assert learned.translate(nxt, CITY, (TAX,)) == learned.translate(old, CITY, (TAX,))
    assert learned.translate(old, CITY, (CITY,)) == (old,)
    switched = KeyRing(MASTER, offices={CITY: (2, (1, 2))})
    assert switched.translate(old, CITY, (CITY,)) == (nxt,) == (switched.token_for(link, CITY),)
    assert switched.translate(nxt, CITY, (PENSION,)) == (RING.token_for(link, PENSION),)
    assert unb64(switched.translate(RING.token_for(link, TAX), TAX, (CITY, TAX))[1])[0] == 1
    retired = KeyRing(MASTER, offices={CITY: (2, (2,))})
    assert retired.link_of(nxt, CITY) == link
    with pytest.raises(UnknownKeyVersion) as info:
        retired.link_of(old, CITY)
    assert info.value.code == "token.unknown_version"
    assert retired.link_of(RING.token_for(link, TAX), TAX) == link  # the others unmoved
    with pytest.raises(UnknownKeyVersion):
        retired.token_for(link, TAX, 2)  # version 2 is CITY's alone
    assert (retired.current_of(CITY), retired.known_of(CITY)) == (2, frozenset({2}))
    assert (retired.current_of(TAX), retired.known_of(TAX)) == (1, frozenset({1}))
    with pytest.raises(KeyConfigError):
        KeyRing(MASTER, offices={CITY: (1, (1, 256))})


def test_link_id_comes_from_a_valid_resident_record_code_only() -> None:
    link = RING.link_id(rrc(1))
    assert len(link) == 16
    assert link == RING.link_id(rrc(1)) != RING.link_id(rrc(2))
    for bad in ("12345678901", "123456789018", "abcdefghijk", "１２３４５６７８９０３", ""):
        with pytest.raises(BadResidentCode) as info:
            RING.link_id(bad)
        assert info.value.code == "token.bad_rrc"


def test_bad_inputs_to_token_for() -> None:
    with pytest.raises(InvalidLink):
        RING.token_for(b"short", CITY)
    for office in ("", "City", "a/b", "-x", "x" * 41, "市役所"):
        with pytest.raises(InvalidOffice):
            RING.token_for(bytes(16), office)
        with pytest.raises(InvalidOffice):
            RING.translate(token_of(rrc(3)), CITY, (office,))


def test_key_ring_configuration_is_checked() -> None:
    with pytest.raises(KeyConfigError):
        KeyRing(b"short")
    with pytest.raises(KeyConfigError):
        KeyRing(MASTER, current=256)
    with pytest.raises(KeyConfigError):
        KeyRing(MASTER, known=(0, 1))
    assert KeyRing(MASTER, current=3).known == frozenset({1, 3})


def test_the_cipher_cache_is_bounded() -> None:
    small = KeyRing(MASTER, cache_size=3)
    link = small.link_id(rrc(9))
    tokens = [small.token_for(link, f"office-{i}") for i in range(10)]
    assert len(small._cache) <= 3
    assert [small.token_for(link, f"office-{i}") for i in range(10)] == tokens
    assert tokens == [RING.token_for(link, f"office-{i}") for i in range(10)]


def test_repr_shows_no_key_material() -> None:
    assert repr(RING) == "KeyRing(current=1, known=[1])"
    rotating = KeyRing(MASTER, offices={CITY: (2, (1, 2))})
    assert repr(rotating) == f"KeyRing(current=1, known=[1], offices={{'{CITY}': (2, [1, 2])}})"
    assert MASTER.hex() not in repr(RING)
