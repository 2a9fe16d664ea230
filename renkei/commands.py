"""The commands behind ``renkei``: thin, each one reads settings and calls into the packages."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import unicodedata
import uuid
from pathlib import Path

import asyncpg

from agencies.jlis.numbers import classify
from agencies.population.households import generate
from hub.node import Answer, OfficeNode, OfficeStore, PgStore
from hub.records import (
    WITNESS_FILE,
    Checkpoint,
    FileWitness,
    InvalidRecord,
    PgRecordStore,
    RecordNotFound,
    disclose,
    read_witness,
    verify_store,
)
from hub.routing import authorize
from hub.wire import HUB
from renkei.console_commands import monitor_demo, served_console
from renkei.demo import run_demo
from renkei.exceptions import (
    RENKEI_BAD_DATE,
    RENKEI_BAD_PARAM,
    RENKEI_BAD_RECORD_ID,
    RENKEI_NO_BROKER,
    RENKEI_NO_DATABASE,
    RENKEI_NO_SUCH_RECORD,
    RENKEI_NOT_ENROLLED,
    RENKEI_UNKNOWN_OFFICE,
    RENKEI_USAGE,
    CommandError,
)
from renkei.issuance_commands import seals_on_disk, serve_centre
from renkei.kiosk_commands import serve_kiosk
from renkei.network import (
    MONITOR,
    REPLAYER,
    identities,
    load_rules,
    migrate,
    open_network,
    setup,
    with_juki,
)
from renkei.pki_checks import signatures_on_disk
from renkei.pki_commands import PKI_PORT
from renkei.pki_commands import serve as pki_serve
from renkei.population.enroll import load_population
from renkei.portal_commands import PORTAL_PORT, portal_demo
from renkei.portal_commands import serve as portal_serve
from renkei.secrets import BROKER_PASSWORD, TOKEN, State
from renkei.serving import until_stopped
from renkei.settings import Settings, parse_addresses
from renkei.token_keys import key_ring

__all__ = [
    "CommandError",
    "broker_setup",
    "db_migrate",
    "demo",
    "init",
    "legal_check",
    "legal_list",
    "numbers_check",
    "query",
    "records_disclose",
    "records_show",
    "records_verify",
    "run_service",
]


_SERVICES = {"hub": HUB, "token": TOKEN, "monitor": MONITOR}


def _ids(settings: Settings) -> list[str]:
    return identities(load_rules(settings)[1])


async def demo(settings: Settings, args: argparse.Namespace) -> int:
    state = None
    if settings.broker_url or settings.db_url:
        # real services keep data between runs: use (or create) this deployment's state; the
        # demo is every role in one process, so it loads every role's files
        State.generate(_ids(settings)).save(settings.state_dir)
        state = State.load(settings.state_dir, _ids(settings))
        if settings.broker_url:
            await setup(settings, state, load_rules(settings)[1])
        if settings.db_url:
            await db_migrate(settings, args)
    if args.monitor:
        return await monitor_demo(settings, state, args)
    args.port = args.port or PORTAL_PORT
    if args.portal:
        args.card = args.card or str(settings.state_dir / "card" / "demo.state")
        return await portal_demo(settings, state, args)
    return await run_demo(settings, state, residents=args.residents, seed=args.seed)


async def init(settings: Settings, args: argparse.Namespace) -> int:
    written = State.generate(_ids(settings)).save(settings.state_dir)
    print(f"{len(written)} files written under {settings.state_dir} (existing ones kept)")
    return 0


async def broker_setup(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.broker_url:
        raise CommandError(
            RENKEI_NO_BROKER, "no broker configured: pass --broker or set RENKEI_BROKER_URL"
        )
    # the operator's administration step: every identity's broker password, no other secret
    state = State.load_passwords(settings.state_dir, _ids(settings))
    report = await setup(settings, state, load_rules(settings)[1])
    print(report)
    return 0


async def db_migrate(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE, "no database configured: pass --db or set RENKEI_DB_URL"
        )
    hub_key = State.load(settings.state_dir, [HUB]).keys[HUB]
    role, monitor = settings.db_hub_role, settings.db_monitor_role
    registry = load_rules(settings)[1]
    await migrate(settings.db_url, registry, hub_key.signing, hub_role=role, monitor_role=monitor)
    print("schemas up to date: records, directory, one per office, monitor")
    if role:
        print(f"role {role} may read the records and append to them, nothing more")
    if monitor:
        print(f"role {monitor} may write the schema monitor and read the records, nothing more")
    return 0


async def run_service(settings: Settings, args: argparse.Namespace) -> int:
    if args.service == "pki":  # the same as `renkei pki serve` with its defaults
        defaults = argparse.Namespace(
            host="127.0.0.1",
            port=PKI_PORT,
            public_url=None,
            crl_interval=3600.0,
            heartbeat=args.heartbeat,
        )
        return await pki_serve(settings, defaults)
    if args.service == "portal":  # the same as `renkei portal serve` with its defaults
        defaults = argparse.Namespace(
            host="127.0.0.1",
            port=PORTAL_PORT,
            public_url=None,
            bridge_url="http://127.0.0.1:8471",
            ca_file=None,
            ocsp_url=None,
            api_key_file=None,
            heartbeat=args.heartbeat,
        )
        return await portal_serve(settings, defaults)
    if args.service == "issuance-centre":
        return await serve_centre(settings, args)
    if args.service == "kiosk":  # at the store: the card reader and the centre's API only
        return await serve_kiosk(settings, args)
    if args.listen and args.service == "token":
        settings = settings.model_copy(update={"token_address": _listen(args.listen)})
    if args.service == "office" and not args.name:
        raise CommandError(RENKEI_USAGE, "name the office: renkei run office CODE")
    identity = args.name if args.service == "office" else _SERVICES[args.service]
    if identity not in _ids(settings):
        offices = [o.code for o in load_rules(settings)[1]]
        raise CommandError(
            RENKEI_UNKNOWN_OFFICE, f"no office {identity!r}; offices: {', '.join(offices)}"
        )
    # the monitor replays dead letters as its second identity, the replayer, when its folder is
    # there (a state directory made before it: `renkei init` adds it, then `broker setup`)
    own = with_juki(load_rules(settings)[1], [identity])  # and its 住基ネット user, if on it
    if identity == MONITOR and (settings.state_dir / REPLAYER / BROKER_PASSWORD).exists():
        own.append(REPLAYER)
    state = State.load(settings.state_dir, own)
    seals = seals_on_disk(settings.state_dir)  # an office that prints certificates signs them
    signatures = signatures_on_disk(settings.state_dir)  # one that takes applications checks them
    async with (
        await open_network(
            settings, state, run=[identity], seals=seals, signatures=signatures
        ) as net,
        contextlib.AsyncExitStack() as serving,
    ):
        where = ""
        if identity == MONITOR:  # the officials' console beside the collector
            url = await serving.enter_async_context(served_console(settings, net, args))
            where = f", its console at {url}"
        if net.token_address is not None:  # the token service's channel for the hub
            where = ", the hub's channel on {}:{}".format(*net.token_address)
        print(
            f"{identity} running on {net.bus_name} and {net.store_name}{where}; Ctrl-C stops it",
            file=sys.stderr,
        )
        await until_stopped(heartbeat=args.heartbeat)
    return 0


def _listen(address: str) -> str:
    try:
        (host, port), *more = parse_addresses(address)
    except ValueError as exc:
        raise CommandError(RENKEI_USAGE, f"--listen: {exc}") from None
    if more:
        raise CommandError(RENKEI_USAGE, "--listen takes one address")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def numbers_check(settings: Settings, args: argparse.Namespace) -> int:
    result = classify(args.number)
    verdict = "valid" if result.valid else "INVALID"
    print(
        f"{result.kind.replace('_', ' ')}: {verdict}"
        + (f" — {result.reason}" if result.reason else "")
    )
    return 0 if result.valid else 1


async def legal_list(settings: Settings, args: argparse.Namespace) -> int:
    table = load_rules(settings)[0]
    print(f"{table.law} — table {table.version}, as of {table.as_of}; {len(table.rows())} rows")
    print(f"{table.note}\n")
    for row in table.rows():
        affair = table.affairs[row.affair]
        items = "、".join(table.items[i].ja for i in row.items)
        period = f"{row.effective_from}–{row.effective_until or ''}"
        asker, giver = table.kinds[row.requester].ja, table.kinds[row.provider].ja
        print(
            f"{row.id:<5} 別表{affair.current_row or '—':<6} "
            f"{asker} ｜ {affair.ja} ｜ {giver} ｜ {items}"
        )
        codes = f"{row.requester} / {row.affair} / {row.provider} / {', '.join(row.items)}"
        print(f"      {codes} — {affair.en} [{period}, {row.source}]")
        if row.withhold:
            w = row.withhold
            print(f"      不開示 allowed, at most {w.max_days} days: {w.basis} [{w.source}]")
    return 0


async def legal_check(settings: Settings, args: argparse.Namespace) -> int:
    table, registry = load_rules(settings)
    try:
        on = (
            dt.date.fromisoformat(unicodedata.normalize("NFKC", args.on))
            if args.on
            else dt.date.today()
        )
    except ValueError:
        raise CommandError(
            RENKEI_BAD_DATE, f"--on takes a date as YYYY-MM-DD, not {args.on!r}"
        ) from None
    items = tuple(args.item)
    if args.requester in registry or args.provider in registry:
        decision = authorize(table, registry, args.requester, args.affair, args.provider, items, on)
    else:
        decision = table.check(args.requester, args.affair, args.provider, items, on)
    print(decision.reason if decision.allowed else f"refused: {decision.reason}")
    return 0 if decision.allowed else 1


async def records_show(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.db_url:
        raise CommandError(
            RENKEI_NO_DATABASE,
            "records live in PostgreSQL; in-memory records end with the demo. Pass --db",
        )
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        token = await PgStore(pool, args.office).token_of(args.local_id)
        if token is None:
            raise CommandError(
                RENKEI_NOT_ENROLLED, f"{args.office} holds no enrolled person {args.local_id!r}"
            )
        # the office's token is turned into the hub's offline: this tool acts as the hub and
        # the token service, and runs where both are held (the directory `renkei init` filled)
        ring = key_ring(settings.state_dir, State.load_secret(settings.state_dir, TOKEN))
        person = ring.translate(token, args.office, ("hub",))[0]
        records = await PgRecordStore(pool).for_person(person, include_not_disclosed=True)
    finally:
        await pool.close()
    for r in records:
        flag = " [not disclosed]" if r.not_disclosed else ""
        if r.withheld_until is not None:
            flag = f" [not disclosed until {r.withheld_until:%Y-%m-%d}]"
        print(
            f"{r.seq:>8} {r.asked_at:%Y-%m-%d %H:%M:%S} {r.requester} → {r.provider or '-'}"
            f" {r.affair} {','.join(r.items)} {r.outcome}{flag}"
        )
    print(f"{len(records)} record(s)")
    return 0


async def records_verify(settings: Settings, args: argparse.Namespace) -> int:
    """The whole chain against the hub's public key (no secret of the hub's is needed), and
    against the newest head in the witness (``--witness``, default: the witness directory's)."""
    if not settings.db_url:
        raise CommandError(RENKEI_NO_DATABASE, "records live in PostgreSQL: pass --db")
    hub_key = State.load_public(settings.state_dir)[HUB].verify
    path: Path | None = args.witness
    if path is None and settings.witness_dir is not None:
        path = settings.witness_dir / WITNESS_FILE
    if path is not None and path.is_dir():
        path = path / WITNESS_FILE
    witnessed = read_witness(path) if path is not None else []
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        report = await verify_store(PgRecordStore(pool), hub_key, witnessed=witnessed)
    finally:
        await pool.close()
    print(report)
    print(_witness_line(path, witnessed, report.ok))
    return 0 if report.ok else 1


def _witness_line(path: Path | None, witnessed: list[Checkpoint], ok: bool) -> str:
    if path is None:
        return (
            "witness: none given, so records cut off the end together with their seals and "
            "checkpoints would go unnoticed (pass --witness or set RENKEI_WITNESS_DIR)"
        )
    if not witnessed:
        return f"witness: {path} holds no head yet"
    newest = ", ".join(f"seq {w.seq} (flag change {w.flag_seq})" for w in witnessed)
    verdict = "the records still hold" if ok else "compared with"
    return f"witness: {verdict} the newest head(s) in {path}: {newest}"


async def records_disclose(settings: Settings, args: argparse.Namespace) -> int:
    """Lift a record's non-disclosure flag: the operator's or the oversight commission's act,
    recorded as a signed change of the flag log (who, why, when)."""
    if not settings.db_url:
        raise CommandError(RENKEI_NO_DATABASE, "records live in PostgreSQL: pass --db")
    try:
        record_id = uuid.UUID(args.record_id)
    except ValueError:
        raise CommandError(
            RENKEI_BAD_RECORD_ID, f"{args.record_id!r} is not a record id (a UUID)"
        ) from None
    state = State.load(settings.state_dir, [HUB])
    witness = None  # the checkpoint over the change goes to the witness, as the hub's do
    if settings.witness_dir is not None:
        witness = FileWitness(settings.witness_dir / WITNESS_FILE)
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        store = PgRecordStore(pool, signing_key=state.keys[HUB].signing, witness=witness)
        change = await disclose(store, record_id, actor=args.by, reason=args.reason)
    except RecordNotFound:
        raise CommandError(RENKEI_NO_SUCH_RECORD, f"no access record {record_id}") from None
    except InvalidRecord as exc:
        raise CommandError(exc.code, str(exc)) from None
    finally:
        await pool.close()
        if witness is not None:
            await witness.close()
    print(f"record {record_id} disclosed (flag change {change.change_seq}, by {change.actor})")
    return 0


def _params(pairs: list[str]) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(RENKEI_BAD_PARAM, f"--param takes KEY=VALUE, not {pair!r}")
        out[key] = int(value) if value.isdigit() else value
    return out


async def query(settings: Settings, args: argparse.Namespace) -> int:
    """Ask as an office; print the opened answer, or the refusal and why."""
    offices = [o.code for o in load_rules(settings)[1]]
    if args.as_office not in offices:
        raise CommandError(
            RENKEI_UNKNOWN_OFFICE, f"no office {args.as_office!r}; offices: {', '.join(offices)}"
        )
    params = _params(args.param or [])
    if args.fiscal_year:
        params["fiscal_year"] = args.fiscal_year
    provider = args.provider or HUB  # the hub finds the office that holds the record
    if settings.broker_url is None:
        print(
            "(no broker configured: asking inside a demo network with its population)",
            file=sys.stderr,
        )
        registry = load_rules(settings)[1]
        async with await open_network(settings, State.generate(identities(registry))) as net:
            await load_population(net, generate(300, seed=1), fiscal_year=2024)
            answer = await _ask(
                net.offices[args.as_office], net.stores[args.as_office], args, provider, params
            )
    else:
        state = State.load(settings.state_dir, [args.as_office])
        async with await open_network(settings, state, run=[args.as_office]) as net:
            answer = await _ask(
                net.offices[args.as_office], net.stores[args.as_office], args, provider, params
            )
    if answer.status == "ok":
        print(json.dumps(answer.data, ensure_ascii=False, indent=2))
        print(f"record {answer.record_id} · {answer.seconds * 1000:.1f} ms", file=sys.stderr)
        return 0
    print(" ".join(filter(None, (answer.status, answer.code))) + f": {answer.reason}")
    return 1


async def _ask(
    node: OfficeNode,
    store: OfficeStore,
    args: argparse.Namespace,
    provider: str,
    params: dict[str, str | int],
) -> Answer:
    token = await store.token_of(args.local_id)
    if token is None:
        raise CommandError(
            RENKEI_NOT_ENROLLED, f"{args.as_office} holds no enrolled person {args.local_id!r}"
        )
    return await node.ask(args.affair, provider, tuple(args.item), token, params)
