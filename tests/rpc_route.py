"""A request/reply route for the bus's own tests of ``call`` and ``serve`` (importable from every
test folder, as ``proc_env``): the network's topology has none since the token service answers
the hub over a channel of its own (``hub.wire.link``), so these tests add one — the hub may
call, the token identity serve — as the topology had for the token service."""

from __future__ import annotations

from dataclasses import replace

from hub.bus import DLX_EXCHANGE, Binding, Exchange, Permission, Queue, Topology

__all__ = ["RPC_EXCHANGE", "RPC_QUEUE", "with_rpc"]

RPC_EXCHANGE = "test.rpc"
RPC_QUEUE = "test.rpc.requests"


def with_rpc(topology: Topology) -> Topology:
    """``topology`` with ``RPC_EXCHANGE`` → ``RPC_QUEUE`` (a classic queue, dead-lettered):
    the hub may write the exchange, the token identity read the queue and reply."""
    hub, token = topology.hub_identity, topology.token_identity

    def widened(perm: Permission) -> Permission:
        if perm.identity == hub:
            return replace(perm, write=perm.write.replace("^(", r"^(test\.rpc|amq\.default|", 1))
        if perm.identity == token:
            return replace(
                perm, write=r"^(amq\.default|renkei\.dlx|renkei\.spans)$", read=r"^test\.rpc\."
            )
        return perm

    queue = Queue(RPC_QUEUE, quorum=False, arguments={"x-dead-letter-exchange": DLX_EXCHANGE})
    return replace(
        topology,
        exchanges=(*topology.exchanges, Exchange(RPC_EXCHANGE, "direct")),
        queues=(*topology.queues, queue),
        bindings=(*topology.bindings, Binding(RPC_EXCHANGE, RPC_QUEUE, RPC_QUEUE)),
        permissions=tuple(widened(p) for p in topology.permissions),
    )
