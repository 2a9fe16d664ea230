"""Labels carry only office codes, affairs and outcomes on the allow-lists; anything else is
counted as ``other`` — a number, a token, a local id or a name never reaches the exposition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.metrics import OTHER, Metrics

OFFICES = ("chiyoda-child", "chiyoda-tax")
AFFAIRS = ("child_allowance",)


def _metrics() -> Metrics:
    m = Metrics()
    m.allow(offices=OFFICES, affairs=AFFAIRS)
    m.enable()
    return m


def _queries(m: Metrics, requester: str, provider: str, affair: str, outcome: str) -> float:
    labels = {"requester": requester, "provider": provider, "affair": affair, "outcome": outcome}
    return m.registry.get_sample_value("renkei_queries_total", labels) or 0.0


def test_known_values_are_labels() -> None:
    m = _metrics()
    m.finished("chiyoda-child", "chiyoda-tax", "child_allowance", "ok", 0.01)
    m.finished("chiyoda-child", "chiyoda-tax", "child_allowance", "ok", 0.02)
    assert _queries(m, "chiyoda-child", "chiyoda-tax", "child_allowance", "ok") == 2
    hop = m.registry.get_sample_value("renkei_hop_seconds_count", {"hop": "hub"})
    assert hop == 2


def test_unknown_values_are_other() -> None:
    m = _metrics()
    m.finished("123456789018", "chiyoda-tax", "山田太郎", "ok\nx", 0.01)
    assert _queries(m, OTHER, "chiyoda-tax", OTHER, OTHER) == 1
    m.translated("tok_secret")
    assert m.registry.get_sample_value("renkei_token_translations_total", {"outcome": OTHER}) == 1


def test_disabled_counts_nothing() -> None:
    m = Metrics()
    m.allow(offices=OFFICES, affairs=AFFAIRS)
    m.finished("chiyoda-child", "chiyoda-tax", "child_allowance", "ok", 0.01)
    m.settled("ack")
    m.published()
    with m.hop("records"):
        pass
    assert _queries(m, "chiyoda-child", "chiyoda-tax", "child_allowance", "ok") == 0
    assert m.registry.get_sample_value("renkei_bus_settled_total", {"outcome": "ack"}) == 0
    assert m.registry.get_sample_value("renkei_hop_seconds_count", {"hop": "records"}) == 0


def test_hop_counts_in_flight_and_time() -> None:
    m = _metrics()
    in_flight = {"hop": "records"}
    with m.hop("records"):
        assert m.registry.get_sample_value("renkei_hop_in_flight", in_flight) == 1
    assert m.registry.get_sample_value("renkei_hop_in_flight", in_flight) == 0
    assert m.registry.get_sample_value("renkei_hop_seconds_count", in_flight) == 1


@given(
    st.text(min_size=1, max_size=40).filter(lambda s: s not in OFFICES + AFFAIRS),
    st.sampled_from(["requester", "provider", "affair", "outcome"]),
)
def test_no_request_value_reaches_the_exposition(value: str, where: str) -> None:
    m = _metrics()
    fields = {
        "requester": "chiyoda-child",
        "provider": "chiyoda-tax",
        "affair": "child_allowance",
        "outcome": "refused",
    }
    fields[where] = value
    m.finished(**fields, seconds=0.1)
    m.translated(value)
    text = m.exposition().decode()
    for line in text.splitlines():
        if line.startswith("renkei_queries_total{") or line.startswith(
            "renkei_token_translations_total{"
        ):
            labels = line[line.index("{") + 1 : line.rindex("}")]
            values = {kv.split("=", 1)[1].strip('"') for kv in labels.split(",")}
            assert values <= {*OFFICES, *AFFAIRS, "refused", "ok", OTHER} | {
                "enrolled",
                "resolved",
                "identified",
                "not_found",
                "error",
                "delivered",
                "timed_out",
            }


def test_alert_rules_are_labels_and_anything_else_is_other() -> None:
    m = _metrics()
    m.allow(offices=OFFICES, affairs=AFFAIRS, rules=("off_hours", "chain_break"))
    m.alert_raised("off_hours")
    m.alert_raised("off_hours")
    m.alert_raised("TOKEN-abc")
    m.alert_acknowledged("chain_break")
    raised = m.registry.get_sample_value
    assert raised("renkei_alerts_raised_total", {"rule": "off_hours"}) == 2
    assert raised("renkei_alerts_raised_total", {"rule": OTHER}) == 1
    assert raised("renkei_alerts_acknowledged_total", {"rule": "chain_break"}) == 1
    assert b"TOKEN" not in m.exposition()
