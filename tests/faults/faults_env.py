"""What the fault tests share (imported as ``faults_env``; tests/conftest.py puts tests/ on the
path, this folder is on it as the test modules' own).

``deployment`` is one network on the real RabbitMQ and PostgreSQL, of its own (vhost, broker
users, database, and the hub's database role, which may only append to the records — and which
a test can keep from writing them, as if the database were gone for the hub alone, without
touching the machine's PostgreSQL for anybody else). The requester and the provider are driven by hand
(``RawOffice``, ``Provider``) so a test decides when each message goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import asyncpg
import orjson
from e2e.e2e_env import ADMIN, AMQP, IDS, PG, REGISTRY, TABLE, RawOffice
from proc_env import free_port

from hub.bus import (
    Bus,
    Delivery,
    OutMessage,
    connect_amqp,
    delete_users,
    delete_vhost,
    network_topology,
    setup_broker,
)
from hub.routing.finish import record_key
from hub.routing.quotas import load_default_quotas
from hub.wire import (
    SIGNATURE_HEADER,
    Answered,
    Envelope,
    ForwardedQuery,
    ProviderReply,
    Query,
    decode,
    encode,
    new_traceparent,
    seal,
    seal_key,
    sign,
)
from renkei.network import Network, juki_topology_of, migrate, open_network
from renkei.secrets import State
from renkei.settings import Settings
from token_service import KeyRing

CHILD, TAX = "chiyoda-child", "shinjuku-tax"  # two wards: one ward's are in-house


def query(token: str, *, deadline: float = 5.0) -> Query:
    """chiyoda-child asks shinjuku-tax for a person's local tax (a lawful query)."""
    now = dt.datetime.now(dt.UTC)
    qid = uuid.uuid4()
    return Query(
        envelope=Envelope(
            message_id=qid,
            correlation_id=qid,
            sender=CHILD,
            recipient=TAX,
            affair="child_allowance",
            issued_at=now,
            deadline=now + dt.timedelta(seconds=deadline),
            traceparent=new_traceparent(),
        ),
        person=token,
        items=("local_tax",),
        params={"fiscal_year": 2024},
    )


@dataclass
class Provider:
    """shinjuku-tax by hand: keeps what the hub forwards, answers when the test says."""

    bus: Bus
    state: State
    inbox: asyncio.Queue[ForwardedQuery] = field(default_factory=asyncio.Queue)

    async def start(self) -> None:
        async def keep(d: Delivery) -> None:
            msg = decode(d.body)
            assert isinstance(msg, ForwardedQuery)
            await self.inbox.put(msg)
            await d.ack()

        await self.bus.consume(f"office.{TAX}.in", keep)

    async def forwarded(self, timeout: float = 10.0) -> ForwardedQuery:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def answer(self, fwd: ForwardedQuery) -> bytes:
        """Answer ``fwd`` (the data sealed for the requester); the reply's bytes."""
        payload = seal(orjson.dumps({"local_tax": 120_000}), seal_key(fwd.seal_to))
        reply = ProviderReply(
            envelope=fwd.envelope.model_copy(
                update={"message_id": uuid.uuid4(), "sender": TAX, "recipient": "hub"}
            ),
            context=fwd.context,
            outcome=Answered(payload=payload),
        )
        body = encode(reply)
        signature = sign(body, self.state.keys[TAX].signing)
        out = OutMessage(
            body=body, message_id=secrets.token_hex(8), headers={SIGNATURE_HEADER: signature}
        )
        await self.bus.publish("renkei.hub", "reply", out)
        return body


@dataclass
class Deployment:
    settings: Settings  # the operator's (the tables' owner)
    hub_settings: Settings  # the hub's: its own database role
    state: State
    admin: asyncpg.Connection  # to the server's own database: roles, sessions
    db: asyncpg.Connection  # to the deployment's: its records
    role: str
    nets: list[Network] = field(default_factory=list)
    buses: list[Bus] = field(default_factory=list)

    def token(self, rrc: str, office: str) -> str:
        ring = KeyRing(self.state.token_master)
        return ring.token_for(ring.link_id(rrc), office)

    async def hub(self) -> Network:
        """A hub worker of its own (its own pool and broker connection)."""
        net = await open_network(
            self.hub_settings, self.state, run=("hub",), table=TABLE, registry=REGISTRY
        )
        self.nets.append(net)
        return net

    async def services(self, run: Iterable[str] = ("token",)) -> Network:
        net = await open_network(self.settings, self.state, run=run, table=TABLE, registry=REGISTRY)
        self.nets.append(net)
        return net

    async def bus(self, code: str) -> Bus:
        url = self.settings.broker_url_for(code, self.state.passwords[code])
        bus = await connect_amqp(url, identity=code, user_prefix=self.settings.broker_user_prefix)
        self.buses.append(bus)
        return bus

    async def requester(self) -> RawOffice:
        office = RawOffice(CHILD, await self.bus(CHILD), self.state.keys[CHILD])
        await office.start()
        return office

    async def provider(self) -> Provider:
        provider = Provider(await self.bus(TAX), self.state)
        await provider.start()
        return provider

    async def dead_letters(self) -> asyncio.Queue[Delivery]:
        """What reaches ``renkei.dead``, read as the monitor."""
        found: asyncio.Queue[Delivery] = asyncio.Queue()

        async def keep(d: Delivery) -> None:
            await found.put(d)
            await d.ack()

        await (await self.bus("monitor")).consume("renkei.dead", keep)
        return found

    async def records(self, requester: str, query_id: uuid.UUID) -> list[asyncpg.Record]:
        """Every access record of the query (one, or none)."""
        return await self.db.fetch(
            "SELECT record_id, outcome, reason FROM records.access_record WHERE query_id = $1",
            record_key(requester, query_id),
        )

    async def record(
        self, requester: str, query_id: uuid.UUID, within: float = 30.0
    ) -> asyncpg.Record:
        """The query's one access record, once it is written (failing after ``within`` s)."""
        async with asyncio.timeout(within):
            while not (found := await self.records(requester, query_id)):  # noqa: ASYNC110 - a table, no event
                await asyncio.sleep(0.05)
        assert len(found) == 1
        return found[0]

    async def deadline_left(
        self, requester: str, query_id: uuid.UUID, within: float = 30.0
    ) -> None:
        """Once the hub has left the forwarded query's deadline in the store (the request then
        done with: a fault after this one is on the answer's path alone)."""
        key = record_key(requester, query_id)
        async with asyncio.timeout(within):
            while not await self.db.fetchval(  # noqa: ASYNC110 - a table, no event
                "SELECT count(*) FROM records.pending_deadline WHERE key = $1", key
            ):
                await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def records_unwritable(self) -> AsyncIterator[None]:
        """To the hub, the access records cannot be written: its sessions are cut (as by a
        restart of PostgreSQL) and every write fails at once — its role loses the right to
        insert records — until the block ends (everybody else's sessions go on)."""
        await self.db.execute(f"REVOKE INSERT ON records.access_record FROM {self.role}")
        await self.cut_sessions()
        try:
            yield
        finally:
            await self.db.execute(f"GRANT INSERT ON records.access_record TO {self.role}")

    async def cut_sessions(self) -> None:
        """The hub's database sessions cut, as by a restart of PostgreSQL (its statements under
        way fail; it connects again at once)."""
        await self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", self.role
        )

    async def close(self) -> None:
        for net in reversed(self.nets):
            await net.aclose()
        for bus in self.buses:
            await bus.close()


@contextlib.asynccontextmanager
async def deployment() -> AsyncIterator[Deployment]:
    vhost = f"renkei-faults-{secrets.token_hex(4)}"
    db = f"renkei_faults_{secrets.token_hex(4)}"
    role = f"renkei_hub_{secrets.token_hex(4)}"  # roles are cluster-wide: one of its own
    prefix = f"flt{secrets.token_hex(3)}-"
    admin = await asyncpg.connect(PG + "postgres")
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    settings = Settings(
        broker_url=AMQP,
        broker_vhost=vhost,
        broker_user_prefix=prefix,
        db_url=PG + db,
        token_address=f"127.0.0.1:{free_port()}",
        _env_file=None,
    )
    hub_url = f"postgresql://{role}@127.0.0.1:5432/{db}"
    state = State.generate(IDS)
    db_conn = await asyncpg.connect(PG + db)
    hub_settings = settings.model_copy(update={"db_url": hub_url})
    dep = Deployment(settings, hub_settings, state, admin, db_conn, role)
    try:
        # a delivery limit of 1: a failure that burns deliveries shows within seconds; the
        # interactive lane for the offices of that class (the portal), as `broker setup` does
        codes = [o.code for o in REGISTRY]
        topology = network_topology(
            codes,
            identity_prefix=prefix,
            delivery_limit=1,
            interactive=load_default_quotas(REGISTRY, TABLE).interactive(codes),
        )
        passwords = {prefix + i: pw for i, pw in state.passwords.items()}
        await setup_broker(settings.admin_url, vhost, topology, passwords, amqp_url=AMQP)
        juki = juki_topology_of(REGISTRY, prefix)  # 住基ネット, as `renkei broker setup` makes it
        await setup_broker(settings.admin_url, settings.juki_vhost, juki, passwords, amqp_url=AMQP)
        await migrate(PG + db, REGISTRY, state.keys["hub"].signing, hub_role=role)
        yield dep
    finally:
        await dep.close()
        await db_conn.close()
        await delete_vhost(ADMIN, vhost)
        await delete_vhost(ADMIN, settings.juki_vhost)
        await delete_users(ADMIN, [prefix + i for i in IDS])
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
