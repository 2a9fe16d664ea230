"""Declaring a :class:`~hub.bus.topology.Topology` on RabbitMQ (as a user that may
configure the vhost: the administrator, from :func:`hub.bus.admin.setup_broker`)."""

from __future__ import annotations

from typing import Any

import aiormq

from hub.bus._amqp_consumer import CHANNEL_ERRORS
from hub.bus.amqp import AmqpBus, close_quietly, error_for
from hub.bus.exceptions import BusError
from hub.bus.topology import Topology

__all__ = ["declare_topology"]


async def declare_topology(target: AmqpBus | Any, topology: Topology) -> None:
    """Declare exchanges, queues and bindings (idempotent). ``target`` is an :class:`AmqpBus`
    or an aio-pika channel whose user may configure the vhost (the admin)."""
    own = isinstance(target, AmqpBus)
    channel: Any = target.connection.channel(publisher_confirms=False) if own else target
    try:
        if own:
            await channel.initialize()
        raw = await channel.get_underlay_channel()
        for ex in topology.exchanges:
            await raw.exchange_declare(ex.name, exchange_type=ex.type, durable=ex.durable)
        for queue in topology.queues:
            await raw.queue_declare(queue.name, durable=True, arguments=queue.declare_arguments)
        for b in topology.bindings:
            await raw.queue_bind(b.queue, b.exchange, routing_key=b.routing_key)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise BusError(
            f"the broker holds an entity that differs from the topology "
            f"(delete it or its vhost to change it): {exc}"
        ) from exc
    except CHANNEL_ERRORS as exc:
        raise error_for(exc, "declare the topology") from exc
    finally:
        if own:
            await close_quietly(channel)
