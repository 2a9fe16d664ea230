"""The allow-list knows every exchange and routing key the hub's spans name: a span naming one
it does not know is dropped whole (the deadline messages' spans were, until this test)."""

from __future__ import annotations

from hub.bus import topology as t
from hub.tracing.names import ATTRIBUTE_CHECKS, DESTINATION, ROUTING_KEY


def test_every_exchange_and_wait_key_of_the_topology_is_allowed() -> None:
    exchanges = (
        t.HUB_EXCHANGE,
        t.INTERACTIVE_EXCHANGE,
        t.OFFICES_EXCHANGE,
        t.WAIT_EXCHANGE,
        t.DEADLINES_EXCHANGE,
    )
    assert all(ATTRIBUTE_CHECKS[DESTINATION](x) for x in exchanges)
    assert all(ATTRIBUTE_CHECKS[ROUTING_KEY](t.wait_queue(s)) for s in t.WAIT_SECONDS)


def test_what_is_not_the_topologys_is_not_allowed() -> None:
    assert not ATTRIBUTE_CHECKS[DESTINATION]("renkei.hub.12345678903")
    assert not ATTRIBUTE_CHECKS[DESTINATION]("renkei.token")  # the token channel is not the bus's
    for key in ("token.requests", "hub.wait.s", "hub.wait.1234s", "hub.wait.5s.x", "12345678903"):
        assert not ATTRIBUTE_CHECKS[ROUTING_KEY](key), key
