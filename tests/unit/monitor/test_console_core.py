"""The console's pure parts: the credential (scrypt, RFC 6238 TOTP), the live map's edges,
the auditor's counts, the parameters, the waterfall."""

from __future__ import annotations

import base64

import pytest
from console_fakes import OFFICES, flow
from hypothesis import example, given
from hypothesis import strategies as st

from monitor import operations
from monitor.console.livemap import edges
from monitor.console.officials import (
    hash_password,
    new_official,
    password_ok,
    provisioning_uri,
    totp,
    totp_step,
)
from monitor.console.params import BadParam, parse_period, parse_search
from monitor.console.present import map_layout, waterfall
from monitor.console.stats import access_counts

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("at", "code"),
    [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924")],
)
def test_totp_is_rfc_6238(at: int, code: str) -> None:
    """RFC 6238 Appendix B (SHA-1), its 8-digit values cut to our 6."""
    assert totp(RFC_SECRET, at // 30) == code


def test_totp_step_window_and_replay() -> None:
    now = 1_000_000.0
    step = int(now // 30)
    for offset in (-1, 0, 1):
        assert totp_step(RFC_SECRET, totp(RFC_SECRET, step + offset), now, 0) == step + offset
    assert totp_step(RFC_SECRET, totp(RFC_SECRET, step - 2), now, 0) is None
    assert totp_step(RFC_SECRET, totp(RFC_SECRET, step), now, last_step=step) is None  # used
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６", "0" * 1000):
        assert totp_step(RFC_SECRET, bad, now, 0) is None


def test_password_hash() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$")
    assert password_ok(stored, "correct horse")
    assert not password_ok(stored, "correct horsE")
    assert not password_ok(stored, "x" * 10_000)
    for broken in ("", "scrypt$", "bcrypt$1$2$3$4$5", stored.replace("$8$", "$x$")):
        assert not password_ok(broken, "correct horse")
    assert hash_password("a") != hash_password("a")  # salted


def test_new_official() -> None:
    official, password = new_official("kato.s", "auditor")
    assert password_ok(official.password_hash, password)
    assert len(base64.b32decode(official.totp_secret)) == 20
    assert provisioning_uri(official).startswith("otpauth://totp/renkei%20monitor:kato.s?secret=")
    for name in ("", "A", "x", "1abc", "a" * 40, "a b", "a\u0000"):
        with pytest.raises(ValueError, match="name"):
            new_official(name, "operator")
    with pytest.raises(ValueError, match="role"):
        new_official("kato", "root")  # type: ignore[arg-type]


def _ops() -> list:  # type: ignore[type-arg]
    spans = [s for i in range(4) for s in flow(f"{i:032x}", i * 1000.0)]
    spans += flow("f" * 32, 5000.0, provider="chiyoda-welfare", outcome="refused")
    return operations(spans)


def test_an_enrollment_or_a_not_found_is_no_error() -> None:
    spans = flow("e" * 32, 0.0, outcome="enrolled") + flow("d" * 32, 0.0, outcome="not_found")
    assert {e.key: e.errors for e in edges(operations(spans), 60.0)}["chiyoda-child>hub"] == 0


def test_edges() -> None:
    found = {e.key: e for e in edges(_ops(), 60.0)}
    assert set(found) == {"chiyoda-child>hub", "hub>chiyoda-resident", "hub>token"}
    asked = found["chiyoda-child>hub"]
    assert (asked.count, asked.errors) == (5, 1)
    assert asked.per_second == pytest.approx(5 / 60)
    assert asked.error_ratio == pytest.approx(0.2)
    assert asked.p50_ms == pytest.approx(12.0)  # requester in - requester out
    served = found["hub>chiyoda-resident"]
    assert (served.count, served.errors, served.p50_ms) == (4, 0, pytest.approx(3.0))
    assert found["hub>token"].p50_ms is None  # no latency the operations can tell
    assert edges([], 60.0) == []
    with pytest.raises(ValueError, match="window"):
        edges([], 0)


def test_access_counts() -> None:
    rows = access_counts(_ops())
    assert [(r.requester, r.provider, r.outcome, r.count) for r in rows] == [
        ("chiyoda-child", "chiyoda-resident", "ok", 4),
        ("chiyoda-child", "chiyoda-welfare", "refused", 1),
    ]
    assert not any("q-" in str(r) or "0000" in str(r) for r in rows)  # no query or trace id


def test_parse_search() -> None:
    q = parse_search(
        {"office": "chiyoda-child", "outcome": "ok", "since": "2026-06-01T09:00", "limit": "7"},
        OFFICES,
    )
    assert (q.office, q.outcome, q.limit) == ("chiyoda-child", "ok", 7)
    assert q.since_ns == 1780304400 * 10**9
    bad = [
        {"trace_id": "XYZ"},
        {"trace_id": "a" * 31},
        {"office": "nowhere"},
        {"affair": "Robert'); DROP"},
        {"outcome": "maybe"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-1"},
        {"since": "yesterday"},
        {"since": "0001-01-01T00:00"},
        {"since": "2026-06-02T00:00", "until": "2026-06-01T00:00"},
        {"affair": "a" * 65},
    ]
    for query in bad:
        with pytest.raises(BadParam):
            parse_search(query, OFFICES)


@given(st.dictionaries(st.sampled_from(["trace_id", "office", "since", "limit"]), st.text()))
@example({"limit": "¹"})  # a digit to str.isdigit, not to int(): was a 500
@example({"limit": "٣"})  # an Arabic-Indic three: int() takes it, the console does not
def test_parse_search_never_crashes(query: dict[str, str]) -> None:
    try:
        parse_search(query, OFFICES)
        parse_period(query)
    except BadParam:
        pass


def test_waterfall_and_layout() -> None:
    spans = flow("a" * 32, 0.0)
    bars = waterfall(spans)
    assert bars[0].span.name == "query"
    assert bars[0].x == 0 and bars[0].width == pytest.approx(1000.0)
    assert all(0 <= b.x <= 1000 and b.x + b.width <= 1000.5 for b in bars)
    assert waterfall([]) == []
    nodes = map_layout(OFFICES)
    assert set(nodes) == {"hub", "token", *OFFICES}
    assert len({(n.x, n.y) for n in nodes.values()}) == len(nodes)
