"""Each service as its own process against RabbitMQ and PostgreSQL, as an operator runs them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest
from proc_env import (
    RENKEI,
    TAX_YEAR,
    as_hub,
    cli,
    deployed,
    file_taxpayer,
    free_port,
    office_node,
    start,
    stop,
)
from proc_secrets import deployment_secrets, held_in_files, held_in_memory, state_dir_of

from hub.bus.juki import juki_identity
from hub.node import Answer
from hub.wire import HUB
from issuance.rules import is_open
from renkei.secrets import TOKEN, State

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
TAX, CHILD = "shinjuku-tax", "chiyoda-child"  # two wards: one ward's offices are in-house


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with deployed(tmp_path) as env:
        yield env


SERVICES = {TOKEN: ["token"], HUB: ["hub"], "jlis": ["office", "jlis"], TAX: ["office", TAX]}


async def ask_about_a_taxpayer(env: dict[str, str], child: State, n: int) -> list[Answer]:
    """The tax office holds one taxpayer; 児童手当, played here with its own files only, asks
    about them ``n`` times at once."""
    my_token = await file_taxpayer(env, TAX, CHILD)
    node = await office_node(env, child, CHILD)
    try:
        ask = ("child_allowance", TAX, ("local_tax",), my_token, {"fiscal_year": 2024})
        return list(await asyncio.gather(*(node.ask(*ask) for _ in range(n))))
    finally:
        await node.stop()
        await node.bus.close()


def other_roles_secrets_held(procs: dict[str, asyncio.subprocess.Process], full: Path) -> str:
    """What each running service holds of other identities' secrets — in its memory, its
    environment or its state directory — one line each; empty when nothing. Each must be
    seen holding its own private keys, broker password and shared secret, raw."""
    every = deployment_secrets(full)
    lines = []
    for ident, proc in procs.items():
        mine = {s for s in every if s.owner == ident and "hex" not in s.what}
        # its 住基ネット user's (a register's, J-LIS's) are its own too, though not all in use
        others = [s for s in every if s.owner not in (ident, juki_identity(ident))]
        in_memory = held_in_memory(proc.pid, [*mine, *others])
        assert mine <= in_memory, f"{ident}'s own secrets not seen: the reading proves nothing"
        folder = state_dir_of(proc.pid)  # the directory `renkei init` filled holds everyone's
        found = (in_memory - mine) | held_in_files(
            proc.pid, folder if folder != full else None, others
        )
        if found:
            lines.append(f"{ident} holds {', '.join(sorted(map(str, found)))}")
    return "\n".join(lines)


async def serve_and_ask(
    env: dict[str, str], services: dict[str, dict[str, str]], child: State, n: int
) -> tuple[list[Answer], str, list[int]]:
    """Start each service in its environment, ask ``n`` times as 児童手当, read what each
    service holds of other roles' secrets, stop them: (answers, held, exit codes)."""
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        for ident, service_env in services.items():
            procs[ident] = await start(service_env, *SERVICES[ident])
        answers = await ask_about_a_taxpayer(env, child, n)
        held = other_roles_secrets_held(procs, Path(env["RENKEI_STATE_DIR"]))
    finally:
        codes = await stop(list(procs.values()))
    return answers, held, codes


async def test_services_as_processes_answer_record_and_verify(deployment: dict[str, str]) -> None:
    """Every service started on the whole directory `renkei init` filled still loads only
    its own files: no process holds another role's secret in memory. The hub connects as a
    role that may only append to the records, and witnesses them."""
    env = deployment
    child = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD])
    answers, held, codes = await serve_and_ask(
        env, {TOKEN: env, HUB: as_hub(env), TAX: env}, child, 20
    )
    assert [a.status for a in answers] == ["ok"] * 20
    assert answers[0].data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}
    assert held == "", "a process holds what only another role may"
    assert codes == [0, 0, 0], "each service stops cleanly on SIGTERM"
    code, out = await cli(env, "records", "verify")
    assert code == 0, out
    assert "intact" in out
    assert "witness: the records still hold the newest head(s)" in out
    conn = await asyncpg.connect(env["RENKEI_DB_URL"])
    try:
        beyond = await conn.fetchval(
            "SELECT has_table_privilege($1, 'records.access_record', 'UPDATE, DELETE, TRUNCATE')",
            env["RENKEI_DB_HUB_ROLE"],
        )
    finally:
        await conn.close()
    assert beyond is False, "the hub recorded all 20 queries with a role that may only append"
    code, out = await cli(env, "records", "show", "--office", CHILD, "--local-id", "C1")
    assert code == 0, out
    assert "20 record(s)" in out and TAX in out


def own_folders(state_dir: Path, identity: str) -> list[str]:
    """public/, the identity's folder, and its 住基ネット user's where it has one."""
    juki = juki_identity(identity)
    return ["public", identity, *([juki] if (state_dir / juki).is_dir() else [])]


def host(env: dict[str, str], identity: str, into: Path) -> dict[str, str]:
    """The state directory of ``identity``'s own host: public/ and its own folders (its
    住基ネット user's too, for a register or J-LIS), copied from the directory `renkei init`
    filled (modes kept), and the environment to run it."""
    full = Path(env["RENKEI_STATE_DIR"])
    for folder in own_folders(full, identity):
        shutil.copytree(full / folder, into / folder)
    return {**env, "RENKEI_STATE_DIR": str(into)}


async def test_each_service_runs_from_its_own_host_directory_alone(
    deployment: dict[str, str], tmp_path: Path
) -> None:
    env = deployment
    hosts = {i: host(env, i, tmp_path / i) for i in (*SERVICES, CHILD)}
    hosts[HUB] = as_hub(hosts[HUB])
    full = Path(env["RENKEI_STATE_DIR"])
    for ident in hosts:  # an office's host: its own keys and password, no other role's secret
        assert sorted(os.listdir(tmp_path / ident)) == sorted(own_folders(full, ident))
    assert "juki-jlis" in own_folders(full, "jlis")  # J-LIS is on 住基ネット too
    child = State.load(tmp_path / CHILD, [CHILD])
    answers, held, codes = await serve_and_ask(env, {i: hosts[i] for i in SERVICES}, child, 5)
    assert [a.status for a in answers] == ["ok"] * 5
    assert answers[0].data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}
    assert held == "", "a process holds what only another role may"
    assert codes == [0] * len(SERVICES), "each service stops cleanly on SIGTERM"


@pytest.mark.parametrize(
    ("service", "own"),
    [(TOKEN, "token-master"), (HUB, "context-key"), ("jlis", "numbering-secret"),
     (TAX, "broker-password")],
)  # fmt: skip
async def test_a_service_without_its_own_secret_refuses_to_start(
    deployment: dict[str, str], tmp_path: Path, service: str, own: str
) -> None:
    host_env = host(deployment, service, tmp_path / service)
    missing = tmp_path / service / service / own
    missing.unlink()
    code, out = await cli(host_env, "run", *SERVICES[service])
    assert code == 2, out
    assert out.splitlines()[-1] == (
        f"renkei: renkei.secrets: {missing} is missing: run `renkei init` first ({service}'s "
        f"own file; on a host of its own, copy {service}/ and public/ from the directory "
        "`renkei init` filled)"
    )


async def start_serving(
    env: dict[str, str], ready: bytes, *args: str
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        RENKEI, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while ready not in (line := await proc.stderr.readline()):
            assert line, f"`renkei {' '.join(args)}` exited before it was ready"
    return proc


async def test_the_portal_as_a_process_serves_the_card_login(deployment: dict[str, str]) -> None:
    env = deployment
    pki_port, portal_port = free_port(), free_port()
    procs = [await start(env, "token"), await start(as_hub(env), "hub")]
    procs.append(await start_serving(env, b"CA serving", "pki", "serve", "--port", str(pki_port)))
    procs.append(
        await start_serving(env, b"portal:", "portal", "serve", "--port", str(portal_port))
    )
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{portal_port}"
            async with http.get(f"{base}/", allow_redirects=False) as home:
                assert (home.status, home.headers["Location"]) == (303, "/login")
            async with http.get(f"{base}/login") as login:
                page = await login.text()
                assert login.status == 200
                assert 'action="http://127.0.0.1:8471/login"' in page
                assert "object-src 'none'" in login.headers["Content-Security-Policy"]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    assert codes == [0, 0, 0, 0], "each service stops cleanly on SIGTERM"


async def test_the_issuance_centre_and_a_kiosk_as_processes(
    deployment: dict[str, str], tmp_path: Path
) -> None:
    """`renkei run issuance-centre` on the network and `renkei run kiosk` asking it over HTTP
    (its card state file missing here: the card is the browser tests' part)."""
    env = deployment
    pki_port, centre_port, kiosk_port = free_port(), free_port(), free_port()
    procs = [await start(env, "token"), await start(as_hub(env), "hub")]
    procs.append(await start_serving(env, b"CA serving", "pki", "serve", "--port", str(pki_port)))
    procs.append(
        await start_serving(
            env, b"issuance centre:", "run", "issuance-centre", "--port", str(centre_port)
        )
    )
    centre = f"http://127.0.0.1:{centre_port}"
    kiosk = f"http://127.0.0.1:{kiosk_port}"
    no_card = str(tmp_path / "no.state")
    kiosk_args = ["--port", str(kiosk_port), "--centre-url", centre, "--state", no_card]
    procs.append(await start_serving(env, b"kiosk running on", "run", "kiosk", *kiosk_args))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{centre}/v1/status") as got:
                status = await got.json()
            assert status["open"] is is_open(dt.datetime.now(dt.UTC))
            async with http.post(f"{centre}/v1/quote", json={"kind": "seal_certificate"}) as got:
                assert (await got.json())["fee"] == 200
            async with http.get(f"{kiosk}/") as got:
                page = await got.text()
            assert got.headers["Server"] == "renkei"
            if not status["open"]:
                assert "ただいまの時間はご利用いただけません" in page
                return
            assert "マイナンバーカードを置いてください" in page
            foreign = {"Origin": "http://evil.example"}
            async with http.post(f"{kiosk}/start", headers=foreign) as got:
                assert got.status == 403
            form = {"Origin": kiosk, "Content-Type": "application/x-www-form-urlencoded"}
            async with http.post(f"{kiosk}/start", headers=form) as got:
                assert "カードが読み取れません" in await got.text()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
    assert codes == [0] * 5, "each service stops cleanly on SIGTERM"


async def test_the_monitor_as_a_process_keeps_each_querys_trace(
    deployment: dict[str, str],
) -> None:
    """`renkei run monitor` stores the spans of the hub, the token service and the tax office
    in PostgreSQL and serves the officials' console (on a port of the test's own); `renkei
    monitor export` gives each query's operational record."""
    env = deployment
    since = dt.datetime.now(dt.UTC).isoformat()
    child = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD])
    console = free_port()
    monitor = await start(env, "monitor", "--port", str(console))
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{console}/search", allow_redirects=False) as page,
        ):
            assert (page.status, page.headers["Location"]) == (303, "/login")
        answers, _, codes = await serve_and_ask(
            env, {TOKEN: env, HUB: as_hub(env), TAX: env}, child, 5
        )  # each service sends its last spans as it stops
        assert [a.status for a in answers] == ["ok"] * 5 and codes == [0, 0, 0]
        for _ in range(100):
            code, out = await cli(env, "monitor", "export", "--since", since, "--office", TAX)
            flows = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
            if len(flows) == 5 and all(f["hub_out"] for f in flows):
                break
            await asyncio.sleep(0.1)
    finally:
        assert await stop([monitor]) == [0]
    assert code == 0, out
    assert {(f["requester"], f["provider"], f["outcome"]) for f in flows} == {(CHILD, TAX, "ok")}
    assert {f["query_id"] for f in flows} == {str(a.query_id) for a in answers}
    for f in flows:
        assert f["hub_in"] <= f["provider_in"] <= f["provider_out"] <= f["hub_out"]
        assert f["sources"] == sorted([TAX, "hub", "token"])


async def _prometheus(port: int, query: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query"
    async with aiohttp.ClientSession() as http, http.get(url, params={"query": query}) as r:
        body = await r.json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


async def test_prometheus_scrapes_every_service(deployment: dict[str, str], tmp_path: Path) -> None:
    """Each service with --metrics-port, Debian's Prometheus started by scripts/prometheus
    against them and RabbitMQ's plugin: every target up, the hub's query counter by office,
    affair and outcome, and no label carrying the person's token."""
    env = deployment
    child = State.load(Path(env["RENKEI_STATE_DIR"]), [CHILD])
    ports = {ident: free_port() for ident in SERVICES}
    procs = [
        await start(as_hub(env) if ident == HUB else env, *args, "--metrics-port", str(port))
        for ident, args in SERVICES.items()
        if (port := ports[ident])
    ]
    prom_port = free_port()
    targets = [f"{ident}=127.0.0.1:{port}" for ident, port in ports.items()]
    script = Path(__file__).parents[2] / "scripts" / "prometheus"
    prom = await asyncio.create_subprocess_exec(
        str(script),
        str(prom_port),
        str(tmp_path / "prometheus"),
        *targets,
        env={**os.environ, "RENKEI_SCRAPE_INTERVAL": "1s"},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        answers = await ask_about_a_taxpayer(env, child, 5)
        assert [a.status for a in answers] == ["ok"] * 5
        up: list[dict[str, object]] = []
        queries: list[dict[str, object]] = []
        async with asyncio.timeout(60):
            while True:
                await asyncio.sleep(1)
                with contextlib.suppress(aiohttp.ClientError):
                    up = await _prometheus(prom_port, "up == 1")
                    queries = await _prometheus(prom_port, "renkei_queries_total")
                    jobs = {r["metric"]["job"] for r in up}  # type: ignore[index]
                    if jobs >= {*SERVICES, "rabbitmq", "rabbitmq-detailed"} and queries:
                        break
        assert len(queries) == 1, queries
        assert queries[0]["metric"] == {  # type: ignore[comparison-overlap]
            "__name__": "renkei_queries_total",
            "job": HUB,
            "instance": f"127.0.0.1:{ports[HUB]}",
            "requester": CHILD,
            "provider": TAX,
            "affair": "child_allowance",
            "outcome": "ok",
        }
        assert queries[0]["value"][1] == "5"  # type: ignore[index]
        translations = await _prometheus(prom_port, "renkei_token_translations_total > 0")
        assert {r["metric"]["outcome"] for r in translations} == {"ok"}  # type: ignore[index]
        depth = await _prometheus(
            prom_port,
            f'rabbitmq_detailed_queue_messages{{vhost="{env["RENKEI_BROKER_VHOST"]}"}}',
        )
        assert {r["metric"]["queue"] for r in depth} >= {"hub.requests", "hub.replies"}  # type: ignore[index]
    finally:
        prom.terminate()
        await asyncio.wait_for(prom.wait(), 30)
        codes = await stop(procs)
    assert codes == [0] * len(procs)
