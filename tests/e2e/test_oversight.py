"""The oversight across the whole network (embedded, and on RabbitMQ + PostgreSQL): the
monitor reads the hub's access records, its rules raise alerts, the alerts go onto the bus
(``monitor.alerts``, which only the monitor may write) — and no alert carries a token, a
number, a local id, a name or any content of the demo."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from e2e_env import Env
from test_tracing import TAX, _leaves, season

from hub.bus import ALERTS_EXCHANGE, ALERTS_QUEUE, AccessRefused, Delivery, OutMessage
from monitor import ChainWatch, Engine, MemoryAlertStore, Oversight, load_rules
from renkei.network import HUB

RULES = load_rules()


def touchy() -> Engine:
    """Every rule at its most sensitive, so the demo's small season raises each it can."""
    r = RULES.rules
    low = r.model_copy(
        update={
            "rate_spike": r.rate_spike.model_copy(update={"floor": 1}),
            "refusal_spike": r.refusal_spike.model_copy(
                update={"min_refused": 1, "min_share": 0.01}
            ),
            "off_hours": r.off_hours.model_copy(update={"days": (), "always_open_kinds": ()}),
            "off_season_reads": r.off_season_reads.model_copy(update={"floor": 1}),
            "repeated_lookups": r.repeated_lookups.model_copy(update={"min_lookups": 2}),
        }
    )
    return Engine(RULES.model_copy(update={"rules": low}))


async def test_alerts_from_the_records_go_on_the_bus_and_name_no_person(env: Env) -> None:
    net, loaded, _ = await season(env)
    assert net.records is not None and net.monitor is not None
    published: asyncio.Queue[Delivery] = asyncio.Queue()

    async def keep(d: Delivery) -> None:
        await published.put(d)
        await d.ack()

    await (await env.connect(net, "monitor")).consume(ALERTS_QUEUE, keep)
    alerts = MemoryAlertStore()
    chain = ChainWatch(net.records, net.state.public[HUB].verify, replay_from=0)
    oversight = Oversight(chain, touchy(), alerts, bus=net.monitor.bus)
    opened = await oversight.check()
    assert oversight.chain_state.ok and oversight.chain_state.verified_seq > 20
    rules = {a.rule for a in opened}
    assert {"rate_spike", "refusal_spike", "off_hours", "repeated_lookups"} <= rules, rules
    assert oversight.published == len(opened) and oversight.unpublished == 0
    got = [await asyncio.wait_for(published.get(), 10) for _ in opened]
    assert {orjson.loads(d.body)["id"] for d in got} == {a.id for a in opened}
    assert {d.user_id for d in got} == {"monitor"}  # vouched by the broker

    secrets_: set[str] = set()
    jlis = net.apps["jlis"]
    for (office, local_id), person in loaded.held.items():
        secrets_ |= {local_id, person.rrc, person.name, jlis.numbers.number_for(person.rrc, 0)}
        secrets_ |= {env.token(person.rrc, office), env.token(person.rrc, "hub")}
    for store in net.stores.values():
        for collection in ("residents", "taxpayers", "applicants", "households"):
            for key in await store.keys(collection):
                secrets_.add(key)
                doc = await store.get(collection, key)
                secrets_ |= {v for v in _leaves(doc) if isinstance(v, str) and len(v) >= 4}
    secrets_ -= {"2024", "世帯主", "本人"}  # words, not anyone's data
    text = orjson.dumps([a.as_json() for a in await alerts.recent()]).decode()
    text += b"".join(d.body for d in got).decode()
    leaked = sorted(v for v in secrets_ if v in text)
    assert not leaked, f"alerts carry the demo's data: {leaked[:10]}"


async def test_only_the_monitor_may_publish_alerts(env: Env) -> None:
    net = await env.network()
    office = await env.connect(net, TAX)
    forged = OutMessage(b'{"rule": "chain_break"}', message_id=str(uuid.uuid4()))
    with pytest.raises(AccessRefused):
        await office.publish(ALERTS_EXCHANGE, "chain_break", forged)
    hub = await env.connect(net, HUB)
    with pytest.raises(AccessRefused):
        await hub.publish(ALERTS_EXCHANGE, "chain_break", forged)
