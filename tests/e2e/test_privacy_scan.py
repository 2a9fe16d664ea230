"""The privacy scan: the whole demo on RabbitMQ and PostgreSQL with the broker's firehose on
(``amq.rabbitmq.trace`` of this module's own vhost: no other suite's traffic is traced), then
every message the broker saw (routing keys, properties, headers, bodies), every log line, every
table of the hub's, the token service's and the monitor's schemas (spans included) and every
other office's tables, searched for the residents' individual numbers (exactly, derived from
J-LIS's registry), names, addresses, birth dates and income figures. Only J-LIS's registry
may yield a number; nothing on the bus or in the network's own tables may hold content.
``docs/reliability.md`` ("Privacy scan") has the result."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import aiormq
import aiormq.abc
import asyncpg
import orjson
import pytest
import structlog
from e2e_env import ADMIN, Env, real_env
from yarl import URL

from agencies.jlis.numbers import NumberGenerator
from hub.bus import vhost_access
from hub.node.store import schema_for
from renkei.demo import run_demo
from renkei.network import load_rules

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

RESIDENTS, SEED = 120, 7  # as tests/e2e/test_demo.py
OFFICE_SCHEMA = re.compile(r"^office_")
# a 住民票's own number: its record's "number" (JSON inside a row's text, quotes doubled)
_REGISTER_NUMBER = re.compile(r'("+)number\1: \1[0-9]{12}\1')


@dataclass
class Personal:
    """What the scan looks for, read from the offices that may hold it."""

    numbers: set[str] = field(default_factory=set)  # from J-LIS's registry (and its secret)
    texts: set[str] = field(default_factory=set)  # names, addresses, birth dates
    figures: set[str] = field(default_factory=set)  # incomes and levies, as digits

    def found_in(self, text: str, *, numbers: bool = True) -> list[str]:
        """Each value in ``text``; digits only where no other digit or letter touches them (a
        figure inside a hex digest or a base64 seal is chance, not a leak)."""
        hits = [t for t in self.texts if t in text]
        digits = (self.numbers if numbers else set()) | self.figures
        for run in re.findall(r"(?<![0-9A-Za-z])[0-9]{6,12}(?![0-9A-Za-z])", text):
            if run in digits:
                hits.append(run)
        return sorted(set(hits))


@dataclass
class Scan:
    env: Env
    personal: Personal
    bus: list[str]  # one text per message the broker saw: routing key, properties, headers, body
    logs: str
    tables: dict[str, str]  # "schema.table" → every row as text


async def _personal(db: asyncpg.Connection, env: Env) -> Personal:
    found = Personal()
    numbering = NumberGenerator(env.state.secret_of("jlis"))
    jlis = schema_for("jlis")
    for row in await db.fetch(f"SELECT key, doc FROM {jlis}.docs WHERE collection = 'residents'"):
        doc = orjson.loads(row["doc"])
        found.numbers.add(numbering.number_for(row["key"], int(doc["generation"])))
    register = schema_for("chiyoda-resident")
    for row in await db.fetch(f"SELECT doc FROM {register}.docs WHERE collection = 'residents'"):
        doc = orjson.loads(row["doc"])
        found.texts |= {doc["name"], doc["address"], doc["birth_date"]}
    tax = schema_for("chiyoda-tax")
    for row in await db.fetch(f"SELECT doc FROM {tax}.docs WHERE collection = 'taxpayers'"):
        for year in orjson.loads(row["doc"])["years"].values():
            found.figures |= {str(v) for v in year.values() if isinstance(v, int) and v >= 100_000}
    return found


async def _tables(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
        "AND table_type = 'BASE TABLE'"
    )
    out: dict[str, str] = {}
    for row in rows:
        name = f'"{row["table_schema"]}"."{row["table_name"]}"'
        text = await db.fetchval(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {name} t")
        out[f"{row['table_schema']}.{row['table_name']}"] = text
    return out


async def _tracing(env: Env, *, on: bool) -> None:
    """The firehose of this module's vhost on or off. Off before the vhost is deleted: RabbitMQ
    (3.x here) does not finish deleting a vhost whose tracing is on, and the management API
    then times out for every suite on the broker."""
    admin = URL(ADMIN)
    auth = {"Authorization": aiohttp.encode_basic_auth(admin.user or "", admin.password or "")}
    vhost = quote(env.settings.broker_vhost, safe="")
    api = URL(f"{admin.with_user(None)}/api/vhosts/{vhost}", encoded=True)
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.put(api, json={"tracing": on}) as resp:
            assert resp.status in (201, 204), resp.status
        async with http.get(api) as resp:
            assert (await resp.json())["tracing"] is on


async def _firehose(env: Env, seen: list[str]) -> aiormq.abc.AbstractConnection:
    """Tracing on for the vhost; a queue of the administrator's own bound to every traced
    publish and delivery. The firehose copies each message with its routing key, its exchange,
    its properties and headers, and its body."""
    await _tracing(env, on=True)
    admin = URL(ADMIN)
    vhost = quote(env.settings.broker_vhost, safe="")
    url = f"amqp://{admin.user}:{admin.password}@{admin.host}:5672/{vhost}"
    connection = await aiormq.connect(url)
    channel = await connection.channel()
    declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
    queue = declared.queue or ""
    await channel.queue_bind(queue, "amq.rabbitmq.trace", routing_key="#")

    async def keep(message: aiormq.abc.DeliveredMessage) -> None:
        props = message.header.properties
        parts: list[Any] = [
            message.routing_key,
            {k: v for k, v in vars(props).items() if v is not None and k != "headers"},
            props.headers or {},
            message.body.decode("utf-8", "replace"),
        ]
        seen.append(repr(parts))

    await channel.basic_consume(queue, keep, no_ack=True)
    return connection


@pytest.fixture(scope="module")
async def scan() -> AsyncIterator[Scan]:
    # aclosing: the vhost (its tracing with it), users and database go even when the demo fails
    async with contextlib.aclosing(real_env()) as envs:
        env = await anext(envs)
        bus: list[str] = []
        logs = io.StringIO()
        try:
            async with vhost_access(ADMIN, env.settings.broker_vhost):
                firehose = await _firehose(env, bus)
                with _capture_logs(logs):
                    out = io.StringIO()  # the demo's report to its operator: not a log
                    code = await run_demo(
                        env.settings, env.state, residents=RESIDENTS, seed=SEED, out=out
                    )
                    assert code == 0
                count = -1
                while count != len(bus):  # the firehose drained
                    count = len(bus)
                    await asyncio.sleep(1.0)
                await firehose.close()
        finally:
            await _tracing(env, on=False)
        db = await asyncpg.connect(env.settings.db_url or "")
        try:
            personal = await _personal(db, env)
            tables = await _tables(db)
        finally:
            await db.close()
        yield Scan(env, personal, bus, logs.getvalue(), tables)


@contextlib.contextmanager
def _capture_logs(out: io.StringIO) -> Iterator[None]:
    """Every structlog event of the run, written to ``out`` as well as where it goes."""
    before = structlog.get_config()
    processors = list(before["processors"])

    def tee(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        out.write(repr(event) + "\n")
        return event

    structlog.configure(processors=[*processors[:-1], tee, processors[-1]])
    try:
        yield
    finally:
        structlog.configure(**before)


def _leaks(scan: Scan, texts: Iterable[tuple[str, str]], *, numbers: bool = True) -> list[str]:
    return [
        f"{where}: {hits}"
        for where, text in texts
        if (hits := scan.personal.found_in(text, numbers=numbers))
    ]


def _network_tables(scan: Scan) -> dict[str, str]:
    """The hub's, the token service's and the monitor's: every schema no office owns."""
    return {t: v for t, v in scan.tables.items() if not OFFICE_SCHEMA.match(t)}


async def test_the_scan_sees_the_whole_demo(scan: Scan) -> None:
    """Not a scan of nothing: the residents were read, the firehose took every message kind,
    the logs, the records, the spans and the token and directory tables are there."""
    assert len(scan.personal.numbers) >= RESIDENTS  # whole households: a few more
    assert len(scan.personal.texts) > RESIDENTS and len(scan.personal.figures) > 10
    bus = "\n".join(scan.bus)
    for key in ("publish.renkei.hub", "deliver.hub.requests", "deliver.office.chiyoda-tax.in"):
        assert key in bus, key
    for kind in ("query", "reply", "enroll", "change", "forwarded_query"):
        assert f'\\"kind\\":\\"{kind}\\"' in bus or f'"kind":"{kind}"' in bus, kind
    assert "query.finished" in scan.logs
    schemas = {t.split(".")[0] for t in _network_tables(scan)}
    assert {"monitor", "directory"} <= schemas, schemas
    assert any("record" in t for t in _network_tables(scan)), sorted(_network_tables(scan))
    assert sum(len(v) for v in _network_tables(scan).values()) > 10_000


async def test_no_number_name_address_or_figure_on_the_bus(scan: Scan) -> None:
    """Routing keys, properties, headers and bodies (sealed payloads are base64: a figure or
    a number matched inside one would be chance, and the digits rule leaves it out)."""
    leaks = _leaks(scan, ((f"message {i}", m) for i, m in enumerate(scan.bus)))
    assert not leaks, leaks[:5]


async def test_no_number_name_address_or_figure_in_any_log_line(scan: Scan) -> None:
    leaks = _leaks(scan, ((f"line {i}", line) for i, line in enumerate(scan.logs.splitlines())))
    assert not leaks, leaks[:5]


async def test_no_content_in_the_hubs_the_token_services_or_the_monitors_tables(
    scan: Scan,
) -> None:
    """Access records, claims, seals, checkpoints, the directory, the token tables, every span
    and operational record: no number, name, address, birth date or figure."""
    leaks = _leaks(scan, _network_tables(scan).items())
    assert not leaks, leaks[:5]


async def test_only_jlis_registry_yields_a_number(scan: Scan) -> None:
    """The other offices keep their residents' names and figures (their own data); none keeps
    an individual number, and J-LIS's registry keeps none either: it derives them. A resident
    register's 住民票 bears the number designated (住基法 第7条第8号の2), as the field ``number``
    of its record and nowhere else: with those taken out, nothing is left there either."""
    _, registry = load_rules(scan.env.settings)
    registers = {f"{schema_for(o.code)}." for o in registry if "resident_register" in o.roles}
    offices = {
        t: _REGISTER_NUMBER.sub("", v) if any(t.startswith(r) for r in registers) else v
        for t, v in scan.tables.items()
        if OFFICE_SCHEMA.match(t)
    }
    assert any(_REGISTER_NUMBER.search(v) for t, v in scan.tables.items() if t in offices)
    number_only = Personal(numbers=scan.personal.numbers)
    hits = [t for t, v in offices.items() if number_only.found_in(v)]
    assert not hits, hits


async def test_the_scan_fails_on_a_deliberate_leak(scan: Scan) -> None:
    """The throwaway check: one number in a header, one name in a log line, one income in a
    hub table — each found."""
    number = next(iter(scan.personal.numbers))
    name = next(t for t in scan.personal.texts if not t[:1].isdigit())
    figure = next(iter(scan.personal.figures))
    leaky = Scan(
        scan.env,
        scan.personal,
        [*scan.bus, repr(["publish.renkei.hub", {}, {"x-note": number}, "{}"])],
        scan.logs + f"{{'event': 'query.finished', 'who': '{name}'}}\n",
        {**scan.tables, "records.access_records": f"(1,abc,{figure},def)"},
    )
    assert _leaks(leaky, ((f"message {i}", m) for i, m in enumerate(leaky.bus)))
    assert _leaks(leaky, ((f"line {i}", m) for i, m in enumerate(leaky.logs.splitlines())))
    assert _leaks(leaky, _network_tables(leaky).items())
    inside = Personal(figures={figure})
    assert not inside.found_in(f"ab{figure}cd") and inside.found_in(f"({figure},")
