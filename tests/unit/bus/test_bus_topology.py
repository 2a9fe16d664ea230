"""The topology is data: names, arguments and permissions are checked here without I/O."""

from __future__ import annotations

import re

import pytest

from hub.bus import (
    ALERTS_EXCHANGE,
    ALERTS_QUEUE,
    DEAD_QUEUE,
    DLX_EXCHANGE,
    HUB_EXCHANGE,
    HUB_INTERACTIVE,
    HUB_REPLIES,
    HUB_REQUESTS,
    INBOX_MAX_BYTES,
    INBOX_MAX_LENGTH,
    INTERACTIVE_EXCHANGE,
    MONITOR_SPANS,
    OFFICE_MAX_CHANNELS,
    OFFICE_MAX_CONNECTIONS,
    OFFICES_EXCHANGE,
    SPANS_EXCHANGE,
    Binding,
    network_topology,
    office_in,
    office_replies,
)

WAIT_EXCHANGE, DEADLINES = "renkei.wait", "hub.deadlines"  # deadlines in the broker, until issue 19
TOKEN, TOKEN_QUEUE = "renkei.token", "token.requests"  # the token service's RPC, before issue 19

TOPOLOGY = network_topology(
    ["tax-osaka", "131016", "portal"], delivery_limit=7, interactive=["portal"]
)


def test_exchanges_and_their_types() -> None:
    assert {(e.name, e.type) for e in TOPOLOGY.exchanges} == {
        (HUB_EXCHANGE, "direct"),
        (INTERACTIVE_EXCHANGE, "direct"),
        (OFFICES_EXCHANGE, "direct"),
        (DLX_EXCHANGE, "fanout"),
        (SPANS_EXCHANGE, "fanout"),
        (ALERTS_EXCHANGE, "fanout"),
    }
    assert all(e.durable for e in TOPOLOGY.exchanges)


def test_every_work_queue_is_quorum_with_limit_and_at_least_once_dead_lettering() -> None:
    """…except the monitor's span and alert queues, classic ones without dead-lettering. The
    token service has no queue: the hub asks it over a channel of its own (hub.wire.link)."""
    names = {q.name for q in TOPOLOGY.queues}
    assert names == {
        HUB_REQUESTS,
        HUB_INTERACTIVE,
        HUB_REPLIES,
        DEAD_QUEUE,
        MONITOR_SPANS,
        ALERTS_QUEUE,
        "office.tax-osaka.in",
        "office.tax-osaka.replies",
        "office.131016.in",
        "office.131016.replies",
        "office.portal.in",
        "office.portal.replies",
    }
    for queue in TOPOLOGY.queues:
        args = queue.declare_arguments
        if queue.name in (MONITOR_SPANS, ALERTS_QUEUE):
            assert not queue.quorum
            assert args == {}
            continue
        assert queue.quorum
        assert args["x-queue-type"] == "quorum"
        if queue.name == DEAD_QUEUE:
            assert args == {"x-queue-type": "quorum"}
            continue
        assert args["x-delivery-limit"] == 7
        assert args["x-dead-letter-exchange"] == DLX_EXCHANGE
        assert args["x-dead-letter-strategy"] == "at-least-once"
        assert args["x-overflow"] == "reject-publish"
        assert queue.delivery_limit == 7
        assert queue.dead_letter_exchange == DLX_EXCHANGE


def test_bindings() -> None:
    assert set(TOPOLOGY.bindings) == {
        Binding(HUB_EXCHANGE, HUB_REQUESTS, "query"),
        Binding(HUB_EXCHANGE, HUB_REQUESTS, "enroll"),
        Binding(HUB_EXCHANGE, HUB_REQUESTS, "identify"),
        Binding(HUB_EXCHANGE, HUB_REQUESTS, "notice"),
        Binding(HUB_EXCHANGE, HUB_REQUESTS, "change"),
        *(
            Binding(INTERACTIVE_EXCHANGE, HUB_INTERACTIVE, key)
            for key in ("query", "enroll", "identify", "notice", "change")
        ),
        Binding(HUB_EXCHANGE, HUB_REPLIES, "reply"),
        Binding(DLX_EXCHANGE, DEAD_QUEUE, ""),
        Binding(SPANS_EXCHANGE, MONITOR_SPANS, ""),
        Binding(ALERTS_EXCHANGE, ALERTS_QUEUE, ""),
        *(
            Binding(OFFICES_EXCHANGE, name, name)
            for code in ("tax-osaka", "131016", "portal")
            for name in (office_in(code), office_replies(code))
        ),
    }


@pytest.mark.parametrize(
    ("identity", "writes", "refused_writes", "reads", "refused_reads"),
    [
        (
            "tax-osaka",
            [HUB_EXCHANGE, DLX_EXCHANGE, SPANS_EXCHANGE],
            [
                OFFICES_EXCHANGE,
                TOKEN,
                "",
                "amq.default",
                "renkei.hubx",
                INTERACTIVE_EXCHANGE,
                ALERTS_EXCHANGE,
            ],
            ["office.tax-osaka.in", "office.tax-osaka.replies"],
            ["office.131016.in", HUB_REQUESTS, DEAD_QUEUE, MONITOR_SPANS, "office.tax-osaka.inx"],
        ),
        (  # an interactive office: the interactive lane too
            "portal",
            [HUB_EXCHANGE, INTERACTIVE_EXCHANGE, DLX_EXCHANGE, SPANS_EXCHANGE],
            [OFFICES_EXCHANGE, TOKEN, "", "renkei.interactivex"],
            ["office.portal.in", "office.portal.replies"],
            [HUB_INTERACTIVE, HUB_REQUESTS],
        ),
        (
            "hub",
            [OFFICES_EXCHANGE, DLX_EXCHANGE, SPANS_EXCHANGE],
            [HUB_EXCHANGE, INTERACTIVE_EXCHANGE, ALERTS_EXCHANGE, WAIT_EXCHANGE, TOKEN, ""],
            [HUB_REQUESTS, HUB_INTERACTIVE, HUB_REPLIES],
            [TOKEN_QUEUE, "office.131016.in", DEAD_QUEUE, MONITOR_SPANS, DEADLINES],
        ),
        (
            "token",  # its spans only: it answers the hub over the token channel
            [SPANS_EXCHANGE],
            [HUB_EXCHANGE, OFFICES_EXCHANGE, TOKEN, ALERTS_EXCHANGE, DLX_EXCHANGE, ""],
            [],
            [TOKEN_QUEUE, HUB_REQUESTS, DEAD_QUEUE, MONITOR_SPANS],
        ),
        (
            "monitor",
            [ALERTS_EXCHANGE],
            [HUB_EXCHANGE, DLX_EXCHANGE, SPANS_EXCHANGE, "", "monitor.alertsx"],
            [DEAD_QUEUE, MONITOR_SPANS, ALERTS_QUEUE],
            [HUB_REQUESTS],
        ),
        (
            "replayer",  # back to an exchange of the network (as the sender: monitor/README)
            [HUB_EXCHANGE, INTERACTIVE_EXCHANGE, OFFICES_EXCHANGE],
            [DLX_EXCHANGE, TOKEN, SPANS_EXCHANGE, ALERTS_EXCHANGE, WAIT_EXCHANGE, ""],
            [DEAD_QUEUE],
            [HUB_REQUESTS, MONITOR_SPANS, ALERTS_QUEUE, "office.131016.in", "renkei.deadx"],
        ),
    ],
)
def test_permissions(
    identity: str,
    writes: list[str],
    refused_writes: list[str],
    reads: list[str],
    refused_reads: list[str],
) -> None:
    perm = TOPOLOGY.permission(identity)
    assert perm is not None
    assert perm.configure == "^$"
    assert all(perm.may_write(x) for x in writes)
    assert not any(perm.may_write(x) for x in refused_writes)
    assert all(perm.may_read(q) for q in reads)
    assert not any(perm.may_read(q) for q in refused_reads)


def test_permission_regexes_are_anchored_for_rabbitmq() -> None:
    for perm in TOPOLOGY.permissions:
        for pattern in (perm.configure, perm.write, perm.read):
            assert pattern.startswith("^")
            assert pattern.endswith("$")
            re.compile(pattern)


def test_identity_prefix_names_every_broker_user() -> None:
    topo = network_topology(["a"], identity_prefix="t1-")
    assert set(topo.identities) == {"t1-hub", "t1-token", "t1-monitor", "t1-replayer", "t1-a"}
    assert topo.impersonators == ("t1-replayer",)  # the one identity that may speak for others
    assert topo.office_identity("a") == "t1-a"
    assert (topo.hub_identity, topo.token_identity) == ("t1-hub", "t1-token")
    assert topo.office_of("t1-a") == "a"
    assert topo.office_of("t1-hub") is None
    assert topo.office_of("a") is None
    with pytest.raises(KeyError):
        topo.office_identity("b")


def test_dead_queue_is_bounded_by_a_policy_that_rejects() -> None:
    (policy,) = [p for p in TOPOLOGY.policies if p.name == "renkei-dead"]
    assert re.search(policy.pattern, DEAD_QUEUE)
    assert not any(
        re.search(policy.pattern, q.name) for q in TOPOLOGY.queues if q.name != DEAD_QUEUE
    )
    assert policy.definition["overflow"] == "reject-publish"
    assert isinstance(policy.definition["max-length"], int)


def test_the_hubs_inbound_queues_are_bounded_and_reject_when_full() -> None:
    """An office that floods hub.requests (or hub.replies) gets publisher nacks, not the
    broker's disk; one policy per queue (RabbitMQ applies only one)."""
    (policy,) = [p for p in TOPOLOGY.policies if p.name == "renkei-inbox"]
    bounded = {q.name for q in TOPOLOGY.queues if re.search(policy.pattern, q.name)}
    assert bounded == {HUB_REQUESTS, HUB_INTERACTIVE, HUB_REPLIES}
    assert dict(policy.definition) == {
        "max-length": INBOX_MAX_LENGTH,
        "max-length-bytes": INBOX_MAX_BYTES,
        "overflow": "reject-publish",
    }
    for queue in TOPOLOGY.queues:
        assert sum(1 for p in TOPOLOGY.policies if re.search(p.pattern, queue.name)) <= 1
    small = network_topology(["a"], inbox_max_length=3, inbox_max_bytes=100)
    (policy,) = [p for p in small.policies if p.name == "renkei-inbox"]
    assert (policy.definition["max-length"], policy.definition["max-length-bytes"]) == (3, 100)


def test_every_office_user_has_connection_and_channel_limits() -> None:
    topo = network_topology(["a", "b"], identity_prefix="t-", office_connections=2)
    assert {(u.identity, u.max_connections, u.max_channels) for u in topo.user_limits} == {
        ("t-a", 2, OFFICE_MAX_CHANNELS),
        ("t-b", 2, OFFICE_MAX_CHANNELS),
    }  # the network's own services (hub, token, monitor) are the operator's: no limits
    assert topo.user_limits[0].definition == {"max-connections": 2, "max-channels": 128}
    assert {u.max_connections for u in TOPOLOGY.user_limits} == {OFFICE_MAX_CONNECTIONS}


@pytest.mark.parametrize(
    "code", ["", "Tax", "tax_osaka", "tax-", "-tax", "tax--osaka", "tax.osaka", "hub", "token"]
)
def test_bad_office_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="office code"):
        network_topology([code])


def test_interactive_offices_must_be_offices_of_the_network() -> None:
    with pytest.raises(ValueError, match="interactive offices not in the network"):
        network_topology(["a"], interactive=["b"])
    assert network_topology(["a"]).permission("a").may_write(INTERACTIVE_EXCHANGE) is False  # type: ignore[union-attr]


def test_duplicate_offices_and_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        network_topology(["a", "a"])
    with pytest.raises(ValueError, match="delivery_limit"):
        network_topology(["a"], delivery_limit=-1)
    for bound in ("inbox_max_length", "inbox_max_bytes", "office_connections", "office_channels"):
        with pytest.raises(ValueError, match="must be >= 1"):
            network_topology(["a"], **{bound: 0})  # type: ignore[arg-type]
