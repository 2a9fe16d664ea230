"""The composition root: wire the hub, the token service and the offices to a bus and stores.

``open_network`` starts the services named in ``run`` (all of them for ``renkei demo``; one for
``renkei run SERVICE``) on the in-process bus and in-memory stores when no broker or database
is configured, or on RabbitMQ and PostgreSQL when they are.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from agencies.jlis.juki import JukiServer
from agencies.jlis.registry import Jlis
from agencies.municipality.juki import JukiLink
from hub.bus import (
    INTERACTIVE_EXCHANGE,
    Bus,
    InMemoryBroker,
    StoreDown,
    connect_amqp,
    network_topology,
    setup_broker,
)
from hub.bus.juki import juki_identity, juki_topology
from hub.bus.topology import Topology
from hub.directory import Directory, MemoryDirectory, PgDirectory
from hub.kept import close_pool
from hub.log import get_logger
from hub.metrics import METRICS
from hub.node import ChangeListener, MemoryStore, OfficeNode, OfficeStore, PgStore
from hub.records import (
    WITNESS_FILE,
    Checkpoint,
    Claimer,
    DeadlineStore,
    FileWitness,
    MemoryDeadlineStore,
    MemoryQuotaStore,
    MemoryRecordStore,
    PgDeadlineStore,
    PgQuotaStore,
    PgRecordStore,
    QuotaStore,
    RecordStore,
    RecordWriter,
    ReplyHold,
    read_witness,
)
from hub.routing import (
    LegalTable,
    Office,
    Registry,
    load_default_registry,
    load_default_table,
    load_registry,
    load_table,
)
from hub.routing.announce import Announcer
from hub.routing.context import ContextSealer
from hub.routing.finish import Finisher, WriterSink
from hub.routing.freshness import CLAIM_KEPT
from hub.routing.portal import PORTAL_KIND
from hub.routing.quotas import QuotaGate, Quotas, load_default_quotas, load_quotas
from hub.routing.router import Router, RouterDeps, utcnow
from hub.routing.token_link import TokenLink
from hub.routing.tokens import TokenClient
from hub.tracing import OFF, Tracing
from hub.wire import HUB
from issuance.seal import Seal
from monitor import (
    AlertStore,
    ChainWatch,
    Collector,
    DeadLetters,
    Engine,
    MemoryAlertStore,
    MemorySpanStore,
    Oversight,
    PgAlertStore,
    PgSpanStore,
    SpanStore,
)
from monitor import (
    load_rules as load_anomaly_rules,
)
from pki.ca.juki import CaNotices
from pki.ca.office import CaListener
from renkei.pki_checks import PkiSignatureCheck
from renkei.roles import Seat, assemble
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from renkei.token_keys import key_ring
from token_service import LinkServer, TokenService

__all__ = [
    "JUKI_ROLES",
    "MONITOR",
    "PROBE_KEPT",
    "REPLAYER",
    "TOKEN",
    "Network",
    "PostgresDown",
    "identities",
    "juki_members",
    "juki_topology_of",
    "load_quotas_of",
    "load_rules",
    "migrate",
    "open_network",
    "setup",
    "topology_of",
    "with_juki",
]

log = get_logger("renkei.network")
# on 住基ネット: the registers, J-LIS and its CA
JUKI_ROLES = frozenset({"resident_register", "number_resolver", "certification"})
MONITOR = "monitor"  # the monitor's broker identity (it sends no spans of its own)
REPLAYER = "replayer"  # the monitor's second: replays dead letters as their senders


def load_rules(settings: Settings) -> tuple[LegalTable, Registry]:
    """The legal table and the registry in force; a malformed one raises (the hub won't start)."""
    table = load_table(settings.legal_table) if settings.legal_table else load_default_table()
    if settings.offices:
        return table, load_registry(settings.offices, table)
    return table, load_default_registry(table)


def load_quotas_of(settings: Settings, table: LegalTable, registry: Registry) -> Quotas:
    """The query quotas in force (``RENKEI_QUOTAS``, else the packaged template); a malformed
    file raises (the hub won't start, ``broker setup`` won't run)."""
    if settings.quotas:
        return load_quotas(settings.quotas, registry, table)
    return load_default_quotas(registry, table)


def topology_of(
    settings: Settings, registry: Registry, quotas: Quotas, prefix: str = ""
) -> Topology:
    """The broker topology of the settings: the offices, the interactive lane's offices (by
    their quota class), the bounds of the hub's inbound queues."""
    codes = [o.code for o in registry]
    return network_topology(
        codes,
        identity_prefix=prefix,
        inbox_max_length=settings.inbox_max_length,
        inbox_max_bytes=settings.inbox_max_bytes,
        interactive=quotas.interactive(codes),
    )


def identities(registry: Registry) -> list[str]:
    """Every broker identity: of the network (the topology is the source of truth) and of
    住基ネット (``juki.<office>``: users of their own, with passwords of their own)."""
    juki = juki_topology_of(registry).identities
    return [*network_topology([o.code for o in registry]).identities, *juki]


@dataclass(frozen=True, slots=True)
class JukiMembers:
    """Who is on 住基ネット: the registers (office code → municipality), J-LIS and its CA."""

    registers: Mapping[str, str]
    jlis: str | None
    ca: str | None = None

    def __contains__(self, code: object) -> bool:
        return code in self.registers or code in (self.jlis, self.ca)


def juki_members(registry: Registry) -> JukiMembers:
    """The registers (role ``resident_register``), J-LIS (``number_resolver``) and its CA
    (``certification``: J-LIS's 異動等失効情報 reach it over 住基ネット)."""
    registers = {
        o.code: o.municipality
        for o in registry
        if "resident_register" in o.roles and o.municipality is not None
    }
    jlis = next((o.code for o in registry if "number_resolver" in o.roles), None)
    ca = next((o.code for o in registry if "certification" in o.roles), None)
    return JukiMembers(registers, jlis, ca)


def juki_topology_of(registry: Registry, prefix: str = "") -> Topology:
    """住基ネット's broker topology for the registry (``hub/bus/juki.py``)."""
    m = juki_members(registry)
    if m.jlis is None:
        return Topology((), (), (), ())
    return juki_topology(m.registers, jlis=m.jlis, ca=m.ca, identity_prefix=prefix)


def with_juki(registry: Registry, run: Iterable[str]) -> list[str]:
    """The identities a process running ``run`` holds: those, and the 住基ネット identity of
    each that is on 住基ネット (a register, J-LIS, its CA)."""
    members = juki_members(registry)
    ids = list(run)
    return ids + [juki_identity(c) for c in ids if c in members]


@dataclass
class Network:
    settings: Settings
    table: LegalTable
    registry: Registry
    topology: Topology
    state: State
    quotas: Quotas
    bus_name: str
    store_name: str
    broker: InMemoryBroker | None = None  # the in-process broker, when there is no RabbitMQ
    juki_broker: InMemoryBroker | None = None  # 住基ネット's, likewise
    juki: dict[str, JukiLink] = field(default_factory=dict)  # a register → its link to J-LIS
    records: RecordStore | None = None
    directory: Directory | None = None
    router: Router | None = None
    offices: dict[str, OfficeNode] = field(default_factory=dict)
    stores: dict[str, OfficeStore] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)  # office code → its own code (Provider…)
    tracing: dict[str, Tracing] = field(default_factory=dict)  # identity → where its spans go
    monitor: Collector | None = None
    oversight: Oversight | None = None  # the monitor's anomaly rules and chain verification
    dead_letters: DeadLetters | None = None  # renkei.dead, read and replayed as the replayer
    token_address: tuple[str, int] | None = None  # where this process's token service listens
    # whether this process's PostgreSQL is out of reach now (its buses hold failed deliveries)
    store_down: StoreDown | None = None
    _closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        """Stop everything, last started first; a failure is logged and the rest still close."""
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.exception("close.failed", what=getattr(close, "__qualname__", repr(close)))
        self._closers.clear()

    async def close_stores(self) -> None:
        """Give back the connections the offices' PostgreSQL stores keep (``PgStore.close``)."""
        for store in self.stores.values():
            if isinstance(store, PgStore):
                await store.close()

    async def __aenter__(self) -> Network:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class PostgresDown:
    """Whether PostgreSQL is out of reach now (stopped, restarting, not taking a connection
    within :data:`PROBE_TIMEOUT`): asked by a process's buses after a handler failed, to tell
    an outage to wait out from a failure of the message itself (``hub.bus.StoreDown``). One
    probe at a time for every asker, on a connection of its own — the pool is busy with the
    held handlers' own attempts —, its answer kept :data:`PROBE_KEPT` seconds."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._at, self._down = -PROBE_KEPT, False
        self._probe: asyncio.Future[bool] | None = None

    async def __call__(self) -> bool:
        loop = asyncio.get_running_loop()
        if loop.time() - self._at < PROBE_KEPT:
            return self._down
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._probe)

    async def _connect(self) -> bool:
        try:
            conn = await asyncpg.connect(self._url, timeout=PROBE_TIMEOUT)
            await conn.close(timeout=PROBE_TIMEOUT)
            down = False
        except Exception:  # noqa: BLE001 - whatever stops a connection is the server out of reach
            down = True
        self._at, self._down, self._probe = asyncio.get_running_loop().time(), down, None
        return down


PROBE_TIMEOUT = 1.0  # seconds a connection may take before PostgreSQL counts as out of reach
PROBE_KEPT = 0.25  # seconds a probe's answer holds for every asker


async def _bus_for(net: Network, identity: str, broker: InMemoryBroker | None) -> Bus:
    if broker is not None:
        bus: Bus = broker.connect(identity)
    else:
        url = net.settings.broker_url_for(identity, net.state.passwords[identity])
        bus = await connect_amqp(
            url,
            identity=identity,
            user_prefix=net.settings.broker_user_prefix,
            store_down=net.store_down,
            bundles=net.settings.broker_bundles,
        )
    net._closers.append(bus.close)
    if net.settings.tracing and identity not in (MONITOR, REPLAYER):
        tracing = net.tracing[identity] = Tracing.on(bus)
        net._closers.append(tracing.close)  # its last spans leave before the bus closes
    return bus


async def _juki_bus(net: Network, code: str) -> Bus:
    """``code``'s bus on 住基ネット, as its 住基ネット user (in its own vhost)."""
    identity = juki_identity(code)
    if net.juki_broker is not None:
        bus: Bus = net.juki_broker.connect(identity)
    else:
        url = net.settings.juki_url_for(identity, net.state.passwords[identity])
        bus = await connect_amqp(
            url,
            identity=identity,
            user_prefix=net.settings.broker_user_prefix,
            store_down=net.store_down,
            bundles=net.settings.broker_bundles,
        )
    net._closers.append(bus.close)
    return bus


def _tracing(net: Network, identity: str) -> Tracing:
    return net.tracing.get(identity, OFF)


async def open_network(
    settings: Settings,
    state: State,
    *,
    run: Iterable[str] | None = None,
    table: LegalTable | None = None,
    registry: Registry | None = None,
    listeners: Mapping[str, ChangeListener] | None = None,
    signatures: PkiSignatureCheck | None = None,
    seals: Callable[[Office], Seal | None] | None = None,
    quotas: Quotas | None = None,
) -> Network:
    """Start the services in ``run`` (default: all) and return the running network.

    ``listeners``: the code that reacts to change events, by office (e.g. the CA for jlis-pki).
    ``signatures``: how offices that take applications check signatures (none: they take none).
    ``seals``: a municipal office's 公印 for the certificate PDFs it signs (none: it answers
    the certificate issuance centre with the data only).
    ``quotas``: instead of the settings' (the demo's bulk enrollment, ``Quotas.enrolling``).
    """
    if table is None or registry is None:
        table, registry = load_rules(settings)
    if quotas is None:
        quotas = load_quotas_of(settings, table, registry)
    topology = topology_of(settings, registry, quotas)
    METRICS.allow(offices=[o.code for o in registry], affairs=table.affairs)
    wanted = set(run) if run is not None else set(identities(registry))
    state.require(with_juki(registry, wanted))  # each service's own keys, before anything starts
    net = Network(
        settings=settings,
        table=table,
        registry=registry,
        topology=topology,
        state=state,
        quotas=quotas,
        bus_name=f"RabbitMQ ({settings.broker_vhost})" if settings.broker_url else "in-process bus",
        store_name="PostgreSQL" if settings.db_url else "in-memory stores",
    )
    try:
        broker = None
        if settings.broker_url is None:
            broker = net.broker = InMemoryBroker(topology)
            net.juki_broker = InMemoryBroker(juki_topology_of(registry))
        pool = None
        if settings.db_url is not None:
            pool = await asyncpg.create_pool(
                settings.db_url, min_size=1, max_size=8, reset=_keep_session
            )
            net._closers.append(functools.partial(close_pool, pool))  # kept connections too
            net._closers.append(net.close_stores)  # before the pool: their batchers end first
            net.store_down = PostgresDown(settings.db_url)
        if MONITOR in wanted:  # first: it takes spans from the start, and stops last
            await _start_monitor(net, broker, pool)
        if TOKEN in wanted:
            await _start_token(net, broker)
        for office in registry:
            if office.code in wanted:
                listener = (listeners or {}).get(office.code)
                seal = seals(office) if seals is not None else None
                await _start_office(
                    net, office.code, broker, pool, listener, signatures=signatures, seal=seal
                )
        if HUB in wanted:
            await _start_hub(net, broker, pool)
        if MONITOR in wanted:  # after the hub: in one process it reads the hub's own records
            await _start_oversight(net, pool)
    except BaseException:
        await net.aclose()
        raise
    return net


async def _start_monitor(net: Network, broker: InMemoryBroker | None, pool: Any) -> None:
    """The monitor: spans into PostgreSQL (schema ``monitor``) or memory (the embedded
    default), with the retention of the settings."""
    store: SpanStore = PgSpanStore(pool) if pool is not None else MemorySpanStore()
    bus = await _bus_for(net, MONITOR, broker)
    collector = Collector(
        bus,
        store,
        identities=net.topology.identities,
        retention_days=net.settings.monitor_retention_days,
    )
    await collector.start()
    net._closers.append(collector.stop)
    net.monitor = collector
    if broker is not None or REPLAYER in net.state.passwords:  # the console's replay
        replayer = await _bus_for(net, REPLAYER, broker)
        net.dead_letters = DeadLetters(replayer, net.topology)
    else:
        log.warning("dead_letters.off", why="no replayer password in the state directory")


async def _start_oversight(net: Network, pool: Any) -> None:
    """The anomaly rules over the access records, verified as they are written: the records
    in PostgreSQL (read only), or the hub's own in one process; none (a lone monitor in
    memory): no oversight, said in the log."""
    records: RecordStore | None = PgRecordStore(pool) if pool is not None else net.records
    if records is None:
        log.warning("oversight.off", why="no access records to read: give the monitor --db")
        return
    witness = None
    if net.settings.witness_dir is not None:
        witness = net.settings.witness_dir / WITNESS_FILE

    def witnessed() -> list[Checkpoint]:
        return read_witness(witness) if witness is not None and witness.exists() else []

    rules = load_anomaly_rules(net.settings.monitor_rules)
    METRICS.allow(
        offices=[o.code for o in net.registry], affairs=net.table.affairs, rules=rules.names()
    )
    chain = ChainWatch(records, net.state.public[HUB].verify, witnessed=witnessed)
    engine = Engine(rules, kinds={o.code: o.kind for o in net.registry})
    alerts: AlertStore = PgAlertStore(pool) if pool is not None else MemoryAlertStore()
    assert net.monitor is not None
    oversight = Oversight(chain, engine, alerts, bus=net.monitor.bus)
    await oversight.start(interval=net.settings.monitor_interval)
    net._closers.append(oversight.stop)
    net.oversight = oversight


async def _start_token(net: Network, broker: InMemoryBroker | None) -> None:
    """The token service on its channel: at ``settings.token_address`` (the first, if several);
    on the in-process bus (everything in one process), on a free port of 127.0.0.1 that the
    hub of this process is given. Its bus carries its spans only (none: no bus)."""
    if net.settings.tracing:
        await _bus_for(net, TOKEN, broker)
    ring = key_ring(net.settings.state_dir, net.state.secret_of(TOKEN))
    keys = net.state.keys[TOKEN]
    service = TokenService(ring, keys.sealing, tracing=_tracing(net, TOKEN))
    server = LinkServer(service.handle_bytes, keys, net.state.public[HUB])
    host, port = ("127.0.0.1", 0) if broker is not None else net.settings.token_addresses[0]
    net.token_address = await server.start(host, port)
    net._closers.append(server.close)


async def _start_hub(net: Network, broker: InMemoryBroker | None, pool: Any) -> None:
    hub_keys = net.state.keys[HUB]
    witness = None
    if net.settings.witness_dir is not None:
        witness = FileWitness(net.settings.witness_dir / WITNESS_FILE)
        net._closers.append(witness.close)  # closed after the writer's last batch
    if pool is not None:
        records: RecordStore = PgRecordStore(pool, signing_key=hub_keys.signing, witness=witness)
        directory: Directory = PgDirectory(pool)
    else:
        records = MemoryRecordStore(signing_key=hub_keys.signing, witness=witness)
        directory = MemoryDirectory()
    writer = RecordWriter(records)
    net._closers.append(writer.close)
    bus = await _bus_for(net, HUB, broker)
    clock = utcnow
    claims = Claimer(records, keep=CLAIM_KEPT, clock=clock)
    net._closers.append(claims.close)
    buckets: QuotaStore = PgQuotaStore(pool) if pool is not None else MemoryQuotaStore()
    deadlines: DeadlineStore = (
        PgDeadlineStore(pool) if pool is not None else MemoryDeadlineStore(records)
    )
    quotas = QuotaGate(net.quotas, buckets, clock=clock)
    net._closers.append(quotas.close)
    # the token service of this process, or the copies of the settings
    where = [net.token_address] if net.token_address else net.settings.token_addresses
    link = TokenLink(where, hub_keys, net.state.public[TOKEN])
    await link.start()
    net._closers.append(link.close)
    tokens = TokenClient(link)
    portals = [o.code for o in net.registry if o.kind == PORTAL_KIND]
    announcer = Announcer(
        bus=bus,
        portals=portals,
        directory=directory,
        tokens=tokens,
        hub_keys=hub_keys,
        clock=clock,
    )
    net._closers.append(announcer.close)
    held = ReplyHold(records, clock=clock)
    net._closers.append(held.close)
    finisher = Finisher(
        bus=bus,
        records=WriterSink(writer, held),
        directory=directory,
        hub_keys=hub_keys,
        clock=clock,
        announcer=announcer,
    )
    router = Router(
        RouterDeps(
            bus=bus,
            table=net.table,
            registry=net.registry,
            keys=net.state.public,
            hub_keys=hub_keys,
            sealer=ContextSealer(net.state.secret_of(HUB)),
            finisher=finisher,
            tokens=tokens,
            directory=directory,
            claims=claims,
            deadlines=deadlines,
            records=records,
            clock=clock,
            tracing=_tracing(net, HUB),
            quotas=quotas,
        )
    )
    await router.start()
    net._closers.append(router.stop)
    net.records, net.directory, net.router = records, directory, router


async def _start_office(
    net: Network,
    code: str,
    broker: InMemoryBroker | None,
    pool: Any,
    listener: ChangeListener | None = None,
    *,
    signatures: PkiSignatureCheck | None = None,
    seal: Seal | None = None,
) -> None:
    """The office's node, playing the roles the registry names for it (``renkei.roles``)."""
    store = _store_of(net, code, pool)
    if isinstance(store, PgStore):
        await store.migrate()
    bus = await _bus_for(net, code, broker)
    node = OfficeNode(
        code=code,
        bus=bus,
        keys=net.state.keys[code],
        hub=net.state.public[HUB],
        jlis_seal=net.state.public["jlis"].seal if "jlis" in net.state.public else None,
        store=store,
        peers=net.state.public,
        tracing=_tracing(net, code),
    )
    if net.quotas.class_of(code) == "interactive":
        node.lane = INTERACTIVE_EXCHANGE
    office = net.registry.get(code)
    members = juki_members(net.registry)
    if code in members.registers:  # the register's CS: its own user on 住基ネット
        link = net.juki[code] = JukiLink(code, await _juki_bus(net, code))
        await link.start()
        net._closers.append(link.stop)
    seat = Seat(
        office,
        node,
        store,
        net.registry,
        net.table,
        net.state,
        signatures,
        listener,
        seal,
        stores=lambda other: _store_of(net, other, pool),
        apps=net.apps,
        juki=net.juki.get(code),
    )
    made = assemble(seat)
    net._closers.extend(made.closers)
    # the node exists first: the roles that ask (the portal, the allowance office) ask through it
    node.roles = made.roles
    if made.deadline is not None:
        node.deadline = made.deadline
    await node.start()
    net._closers.append(node.stop)
    net.offices[code], net.apps[code] = node, made.app
    if code == members.jlis and isinstance(made.app, Jlis):  # 全国サーバ on 住基ネット
        server = JukiServer(made.app, await _juki_bus(net, code), members.registers, members.ca)
        await server.start()
        net._closers.append(server.stop)
    if code == members.ca and members.jlis and isinstance(listener, CaListener):
        notices = CaNotices(listener.ca, await _juki_bus(net, code), code=code, jlis=members.jlis)
        await notices.start()  # J-LIS's 異動等失効情報 over 住基ネット
        net._closers.append(notices.stop)
    for start in made.starters:  # after the node: they may ask through it
        await start()


def _store_of(net: Network, code: str, pool: Any) -> OfficeStore:
    """The office's store, made once: its own, or one its municipality's in-house link reads
    (庁内連携: the same schema in PostgreSQL, the same memory in one process)."""
    if code not in net.stores:
        net.stores[code] = PgStore(pool, code) if pool is not None else MemoryStore()
    return net.stores[code]


async def _keep_session(_: Any) -> None:
    """Pool connections are not reset on release: every piece of session state we use is
    transaction-local (advisory xact locks, ON COMMIT DROP temp tables), and the reset cost a
    round trip per release — measured as the largest single saving in bench/query_bench.py."""


async def migrate(
    db_url: str,
    registry: Registry,
    hub_signing: Any,
    *,
    hub_role: str | None = None,
    monitor_role: str | None = None,
) -> None:
    """``renkei db migrate``: the records, the directory and one schema per office, owned by
    the role of ``db_url``; ``hub_role`` (the hub's own) may only append to the records;
    ``monitor_role`` (the monitor's) may write its schema ``monitor`` and read the records."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        records = PgRecordStore(pool, signing_key=hub_signing)
        await records.migrate(writer_role=hub_role, reader_role=monitor_role)
        await PgDirectory(pool).migrate(writer_role=hub_role)
        for office in registry:
            await PgStore(pool, office.code).migrate()
        await PgSpanStore(pool).migrate(role=monitor_role)
    finally:
        await pool.close()


async def setup(settings: Settings, state: State, registry: Registry) -> Any:
    """``renkei broker setup``: vhost, users, permissions, policies, topology."""
    prefix = settings.broker_user_prefix
    quotas = load_quotas_of(settings, load_rules(settings)[0], registry)
    topology = topology_of(settings, registry, quotas, prefix)
    passwords = {prefix + i: pw for i, pw in state.passwords.items()}
    report = await setup_broker(
        settings.admin_url,
        settings.broker_vhost,
        topology,
        passwords,
        amqp_url=settings.broker_url,
    )
    juki = juki_topology_of(registry, prefix)  # 住基ネット: its own vhost, its own users
    if juki.permissions:
        await setup_broker(
            settings.admin_url, settings.juki_vhost, juki, passwords, amqp_url=settings.broker_url
        )
    return report
