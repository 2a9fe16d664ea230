"""The pure parts: sessions and pre-logins (bounded), forms, the document, base64url."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from portal_fakes import T0

from portal.challenges import PreLoginStore
from portal.codec import b64url_decode, b64url_encode
from portal.forms import build_document, summary, validate
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


def test_pre_logins_are_one_time_and_bounded() -> None:
    store = PreLoginStore(2 * MIN, cap=2)
    first = store.create(T0)
    assert len(first.challenge) == 32
    assert store.take(first.id) is first
    assert store.take(first.id) is None
    x, y, z = store.create(T0), store.create(T0), store.create(T0)
    assert len(store) == 2 and store.take(x.id) is None and store.take(z.id) is z
    store.create(T0 + 3 * MIN)
    assert store.take(y.id) is None  # expired and evicted


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
