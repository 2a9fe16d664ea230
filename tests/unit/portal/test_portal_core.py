"""The pure parts: sessions and pre-logins (bounded), login limits, forms, the document,
base64url."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from portal_fakes import T0

from hub.buckets import Rate
from portal.challenges import PreLoginStore
from portal.codec import b64url_decode, b64url_encode
from portal.exceptions import TooMany
from portal.forms import build_document, summary, validate
from portal.limits import LoginLimiter, LoginLimits, client_of
from portal.model import CheckedCertificate
from portal.sessions import MAX_PENDING, Pending, SessionStore

CERT = CheckedCertificate(b"der", 7, T0 + dt.timedelta(days=1))
MIN = dt.timedelta(minutes=1)


def test_sessions_are_random_expire_and_are_bounded() -> None:
    store = SessionStore(30 * MIN, cap=3)
    a = store.create("p", CERT, T0)
    b = store.create("p", CERT, T0)
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 43
    assert store.get(a.id, T0 + 29 * MIN) is a
    assert store.get(b.id, T0 + 31 * MIN) == "expired"
    assert store.get(b.id, T0 + 31 * MIN) == "unknown"
    assert store.get(None, T0) == "unknown"
    c, d, e = (store.create("p", CERT, T0 + 30 * MIN) for _ in range(3))
    assert len(store) == 3  # the cap evicted the least recently seen (a)
    assert a.id not in store and {c.id, d.id, e.id} <= {*store._items}
    later = store.create("p", CERT, T0 + 90 * MIN)  # every other one has expired by now
    assert len(store) == 1 and later.id in store
    assert store.destroy(later.id) and not store.destroy(later.id)


def test_pending_applications_per_session_are_bounded() -> None:
    session = SessionStore(MIN).create("p", CERT, T0)
    for _ in range(MAX_PENDING + 5):
        session.add_pending(Pending(uuid.uuid4(), "moving", {}, b"{}", T0))
    assert len(session.pending) == MAX_PENDING


def test_pre_logins_are_one_time_and_bounded_without_pushing_any_out() -> None:
    store = PreLoginStore(2 * MIN, cap=3, per_client=2)
    first = store.create(T0, "a")
    assert len(first.challenge) == 32
    assert store.take(first.id) is first
    assert store.take(first.id) is None
    x, y = store.create(T0, "a"), store.create(T0 + MIN, "a")
    with pytest.raises(TooMany) as mine:
        store.create(T0 + MIN, "a")  # a's third: refused until a's oldest expires
    assert (mine.value.scope, mine.value.wait) == ("pending", 60.0)
    z = store.create(T0 + MIN, "b")
    with pytest.raises(TooMany) as full:
        store.create(T0 + MIN, "c")  # the store is full: refused, nobody's pushed out
    assert (full.value.scope, full.value.wait) == ("store", 60.0)
    assert len(store) == 3
    assert store.take(x.id) is x
    assert store.create(T0 + MIN, "c").client == "c"  # room again
    store.create(T0 + 3 * MIN + dt.timedelta(seconds=1), "d")
    assert store.take(y.id) is None and store.take(z.id) is None  # expired and dropped
    assert len(store) == 1


def test_the_login_limiter_takes_from_both_buckets_or_neither() -> None:
    limiter = LoginLimiter(LoginLimits(per_client=Rate(2, 1.0), overall=Rate(3, 1.0)))
    limiter.take("a", 0.0)
    limiter.take("a", 0.0)
    with pytest.raises(TooMany) as client:
        limiter.take("a", 0.0)
    assert (client.value.scope, client.value.retry_after) == ("client", 1)
    limiter.take("b", 0.0)  # a's refusal took nothing from the portal's bucket
    with pytest.raises(TooMany) as portal:
        limiter.take("c", 0.5)
    assert portal.value.scope == "portal" and portal.value.wait == 0.5
    limiter.take("c", 1.0)


def test_clients_are_ipv4_addresses_and_ipv6_64s() -> None:
    assert client_of("192.0.2.7") == "192.0.2.7"
    assert client_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_of("2001:db8::1") == client_of("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_of("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert client_of(None) == client_of("not an address") == "unknown"


def test_validate_moving_and_summary() -> None:
    raw = {
        "to_address": "  東京都新宿区  ",
        "to_municipality": "１３１０４１",
        "moving_date": "2025-06-20",
    }
    clean, errors = validate("moving", raw, T0.date())
    assert errors == {}
    assert clean == {
        "to_address": "東京都新宿区",
        "to_municipality": "131041",
        "moving_date": "2025-06-20",
    }
    text = summary("moving", clean)
    assert text.splitlines()[0].startswith("申請 (application): 引越しワンストップ")
    assert "転居先の市区町村コード (municipal code, 6 digits): 131041" in text
    _, far = validate("moving", {**raw, "moving_date": "2027-01-01"}, T0.date())
    assert "moving_date" in far


# Real variant characters of Japanese names: 髙 (U+9AD9, not 高), 﨑 (U+FA11, a unified
# ideograph in the compatibility block, not 崎), 神 (U+FA19, a compatibility ideograph that NFC
# turns into 神 U+795E) and an ideographic variation sequence, 葛󠄀 (U+845B U+E0100).
VARIANT_NAMES = ["髙橋 一郎", "山\ufa11 花子", "\ufa19田 太郎", "\u845b\U000e0100西 次郎"]


@pytest.mark.parametrize("name", VARIANT_NAMES, ids=["taka", "saki", "kami", "ivs"])
def test_a_name_is_signed_exactly_as_typed(name: str) -> None:
    raw = {"child_name": f" {name} ", "child_birth_date": "2020-01-01", "bank_account": name}
    clean, errors = validate("child_allowance", raw, T0.date())
    assert errors == {}
    assert clean["child_name"] == clean["bank_account"] == name
    doc = build_document("child_allowance", clean, uuid.UUID(int=1), T0)
    assert name.encode() in doc
    assert orjson.loads(doc)["form"]["child_name"] == name
    assert name in summary("child_allowance", clean)


def test_document_is_canonical() -> None:
    app_id = uuid.UUID(int=1)
    doc = build_document("tax_return", {"income": "1", "deductions": "0"}, app_id, T0)
    assert doc == (
        b'{"application_id":"00000000-0000-0000-0000-000000000001",'
        b'"form":{"deductions":"0","income":"1"},"kind":"tax_return",'
        b'"submitted_at":"2025-06-10T03:00:00+00:00"}'
    )


@given(st.binary(max_size=300))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


def test_b64url_refuses_other_alphabets() -> None:
    for bad in ("a+b/", "abc=d", "a", "ü"):
        try:
            b64url_decode(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
