"""The card desk checks the resident register before it issues (番号法 第16条, 第17条):
`renkei card issue --register OFFICE --local-id ID` against the register's store in PostgreSQL.

It shares the bulk-load tests' deployment (a migrated database of its own). No card and no
reader: every case here stops before the card is made — refused by the register check, or,
once the check passes, at the CA (none runs at the URL given), which proves the check passed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from population_env import Deployment

from hub.node import PgStore

REGISTER = "chiyoda-resident"
APPLICANT = {
    "number": "123456789018",
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目1番2号",
    "birth_date": "1985-06-15",
    "sex": "2",
    "prefecture": "Tokyo-to",
    "municipality": "Chiyoda-ku",
}
ON_REGISTER = {
    "name": "番号 花子",
    "address": "東京都千代田区霞が関二丁目１番２号",  # the register writes full-width digits
    "birth_date": "1985-06-15",
    "sex": "2",
    "household": "H1",
    "relationship": "世帯主",
}


async def renkei(deployment: Deployment, *args: str, db: bool = True) -> tuple[int, str]:
    head = ["--state-dir", str(deployment.state_dir)] + (["--db", deployment.dsn] if db else [])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "renkei", *head, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.fixture(scope="module")
async def desk(deployment: Deployment, pool: asyncpg.Pool) -> Path:
    """The register's records, and the desk's files (the applicant, PINs, a CA token)."""
    store = PgStore(pool, REGISTER)
    await store.put_many(
        "residents",
        [
            ("D1", None, ON_REGISTER),
            ("D2", None, {**ON_REGISTER, "move_out": "2026-12-20"}),
            ("D3", None, {**ON_REGISTER, "rrc": "13579246801"}),
        ],
    )
    files = deployment.state_dir / "desk"
    files.mkdir()
    (files / "pins.json").write_text(json.dumps({"auth": "1234", "sign": "ABC123", "face": "5678"}))
    (deployment.state_dir / "pki").mkdir(exist_ok=True)
    (deployment.state_dir / "pki" / "operator-token").write_text("t" * 32)
    return files


async def issue(
    deployment: Deployment,
    files: Path,
    applicant: dict[str, Any],
    *extra: str,
    db: bool = True,
    url: str = "http://127.0.0.1:9",
) -> tuple[int, str]:
    path = files / "applicant.json"
    path.write_text(json.dumps(applicant, ensure_ascii=False))
    state = files / "card.state"
    code, err = await renkei(
        deployment,
        *("card", "issue", "--resident", str(path), "--pins", str(files / "pins.json")),
        *("--state", str(state), "--url", url),
        *extra,
        db=db,
    )
    assert not state.exists()  # nothing issued either way
    return code, err


async def test_a_resident_on_the_register_passes_the_check(
    deployment: Deployment, desk: Path
) -> None:
    code, err = await issue(deployment, desk, APPLICANT, "--register", REGISTER, "--local-id", "D1")
    assert code == 2
    assert "is not reachable: is `renkei pki serve` running?" in err  # past the check, at the CA


async def test_the_desk_gives_the_ca_the_residents_code(deployment: Deployment, desk: Path) -> None:
    """The 市町村長's issuance application gives the CA the 住民票コード on the register (J-LIS's
    異動等失効情報 names the resident by it): a CA that takes the request and refuses it."""
    asked: list[dict[str, Any]] = []

    async def certificates(request: web.Request) -> web.Response:
        asked.append(await request.json())
        return web.json_response({"code": "pki.refused", "message": "no"}, status=422)

    app = web.Application()
    app.router.add_post("/certificates", certificates)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        code, err = await issue(
            deployment, desk, APPLICANT, "--register", REGISTER, "--local-id", "D3", url=url
        )
    finally:
        await runner.cleanup()
    assert code != 0 and "pki.refused" in err
    assert [a["code"] for a in asked] == ["13579246801"]


@pytest.mark.parametrize(
    ("fact", "value", "named"),
    [
        ("name", "番号 華子", "氏名 (name)"),
        ("address", "東京都新宿区西新宿二丁目8番1号", "住所 (address)"),
        ("birth_date", "1985-06-16", "生年月日 (birth_date)"),
        ("sex", "1", "性別 (sex)"),
    ],
)
async def test_each_fact_the_register_does_not_bear_out_is_refused(
    deployment: Deployment, desk: Path, fact: str, value: str, named: str
) -> None:
    code, err = await issue(
        deployment, desk, {**APPLICANT, fact: value}, "--register", REGISTER, "--local-id", "D1"
    )
    assert code == 2 and "card.register_mismatch" in err and named in err, err
    if fact != "sex":  # a one-digit code is anywhere; the others are never echoed
        assert value not in err and str(ON_REGISTER[fact]) not in err


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--register", REGISTER, "--local-id", "NOBODY"), "card.not_on_register", "no resident"),
        (("--register", REGISTER, "--local-id", "D2"), "card.not_on_register", "move out filed"),
        (("--register", "chiyoda-tax", "--local-id", "D1"), "renkei.unknown_office", "no resident"),
        (("--register", "nowhere", "--local-id", "D1"), "renkei.unknown_office", "no resident"),
        (("--register", REGISTER, "--local-id", "D1'; --"), "renkei.bad_param", "--local-id"),
        (("--register", REGISTER, "--local-id", "x" * 65), "renkei.bad_param", "--local-id"),
        (("--register", REGISTER), "", "--local-id"),  # argparse: required
        (("--local-id", "D1"), "", "--register"),
    ],
    ids=[
        "unknown-person", "moved-out", "not-a-register", "unknown-office", "malformed-id",
        "oversized-id", "no-id", "no-register",
    ],
)  # fmt: skip
async def test_the_desk_refuses_without_a_resident_on_its_register(
    deployment: Deployment, desk: Path, args: tuple[str, ...], code: str, words: str
) -> None:
    exit_code, err = await issue(deployment, desk, APPLICANT, *args)
    assert exit_code == 2 and code in err and words in err, err


async def test_without_the_register_database_nothing_is_issued(
    deployment: Deployment, desk: Path
) -> None:
    code, err = await issue(
        deployment, desk, APPLICANT, "--register", REGISTER, "--local-id", "D1", db=False
    )
    assert code == 2 and "renkei.no_database" in err and "pass --db" in err


async def test_malformed_applicant_files_are_refused_before_the_register(
    deployment: Deployment, desk: Path
) -> None:
    for bad in ({**APPLICANT, "sex": "x"}, {**APPLICANT, "number": "123456789010"}, {}):
        code, err = await issue(deployment, desk, bad, "--register", REGISTER, "--local-id", "D1")
        assert code == 2 and "card.resident" in err, err
