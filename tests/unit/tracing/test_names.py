"""The allow-list knows every exchange and routing key the hub's spans name: a span naming one
it does not know is dropped whole (the deadline messages' spans were, until this test)."""

from __future__ import annotations

from hub.bus import topology as t
from hub.tracing.names import ATTRIBUTE_CHECKS, DESTINATION, ROUTING_KEY


def test_every_exchange_and_routing_key_of_the_topology_is_allowed() -> None:
    exchanges = (t.HUB_EXCHANGE, t.INTERACTIVE_EXCHANGE, t.OFFICES_EXCHANGE)
    assert all(ATTRIBUTE_CHECKS[DESTINATION](x) for x in exchanges)
    keys = (*t.REQUEST_KEYS, t.RK_REPLY, t.office_in("tax-office"), t.office_replies("a-b"))
    assert all(ATTRIBUTE_CHECKS[ROUTING_KEY](k) for k in keys)


def test_what_is_not_the_topologys_is_not_allowed() -> None:
    assert not ATTRIBUTE_CHECKS[DESTINATION]("renkei.hub.12345678903")
    assert not ATTRIBUTE_CHECKS[DESTINATION]("renkei.token")  # the token channel is not the bus's
    assert not ATTRIBUTE_CHECKS[DESTINATION]("renkei.wait")  # the deadlines are kept in PostgreSQL
    for key in ("token.requests", "hub.wait.1s", "hub.wait.5s.x", "12345678903"):
        assert not ATTRIBUTE_CHECKS[ROUTING_KEY](key), key
