"""docs/operations.md, "Token keys", run as written: 千代田区 税務課's token key is rotated —
the token service learns version 2, the office's store is re-tokenized and promoted, the token
service switches, version 1 is retired, each token process restarted one at a time — while
児童手当 keeps asking it, and it asks 新宿区 at every step: every query answered; after, a
version-1 token of the office is refused `token.unknown_version`, and the refusal recorded."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import asyncpg
import pytest
from ops_env import ASK, Flow
from proc_env import TAX_YEAR, as_hub, cli, deployed, file_taxpayer, office_node, start, stop

from hub.node import Answer, PgStore
from renkei.network import Network, open_network
from renkei.secrets import State
from renkei.settings import Settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]
CHILD, TAX, OTHER = "chiyoda-child", ASK[1], "chiyoda-tax"  # three offices of two wards
# the rotated office asks too: 新宿区 (the municipality moved from) for last year's tax
FROM_TAX = ("local_tax_assessment", OTHER, ("local_tax",))


async def restart(env: dict[str, str], tokens: list[asyncio.subprocess.Process]) -> None:
    """The token service's processes one at a time: a new one up (it reads token/ again), then
    the oldest stopped; the other keeps answering meanwhile."""
    for _ in range(len(tokens)):
        tokens.append(await start(env, "token"))
        assert await stop([tokens.pop(0)]) == [0]


def settings(env: dict[str, str]) -> Settings:
    """The office's host: the deployment's broker and database, its own folder of the state."""
    return Settings(
        _env_file=None,
        broker_url=env["RENKEI_BROKER_URL"],
        broker_vhost=env["RENKEI_BROKER_VHOST"],
        broker_user_prefix=env["RENKEI_BROKER_USER_PREFIX"],
        db_url=env["RENKEI_DB_URL"],
        state_dir=Path(env["RENKEI_STATE_DIR"]),
    )


async def ask(tax: Network, token: str) -> Answer:
    return await tax.offices[TAX].ask(*FROM_TAX, token, {"fiscal_year": 2024})


async def asks(tax: Network) -> None:
    """The rotated office asks, by the token its store holds now (as `renkei query` does)."""
    token = await tax.stores[TAX].token_of("C1")
    assert token is not None
    answer = await ask(tax, token)
    assert (answer.status, answer.code) == ("ok", ""), answer.reason
    assert answer.data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}


def version(token: str) -> int:
    return base64.urlsafe_b64decode(token)[0]


async def test_an_offices_token_key_is_rotated_while_queries_flow(tmp_path: Path) -> None:
    async with deployed(tmp_path) as env:
        root = Path(env["RENKEI_STATE_DIR"])
        child_token = await file_taxpayer(env, TAX, CHILD)  # 税務課 holds T1 (version 1)
        old = await file_taxpayer(env, OTHER, TAX)  # … and C1, whom it asks 千代田区 about
        tokens = [await start(env, "token"), await start(env, "token")]
        offices = [await start(env, "office", OTHER)]
        hubs = [await start(as_hub(env), "hub")]
        # 税務課 on its host: it answers 児童手当 and asks 千代田区, by its store's tokens
        tax = await open_network(settings(env), State.load(root, [TAX]), run=[TAX])
        flow = Flow(await office_node(env, State.load(root, [CHILD]), CHILD), child_token)
        pool = await asyncpg.create_pool(env["RENKEI_DB_URL"], min_size=1, max_size=2)
        store = PgStore(pool, TAX)

        async def both_ways() -> None:  # queries to the office, and from it
            await flow.answered(3)
            await asks(tax)

        async def step(name: str) -> str:
            code, out = await cli(env, "tokens", name, TAX)
            assert code == 0, out
            return out

        try:
            await both_ways()
            await step("rotate")  # 1. version 2 learned
            await restart(env, tokens)
            await both_ways()

            out = await step("retokenize")  # 2. the store re-tokenized and promoted
            assert "2 version-2 token(s) written, 2 promoted" in out
            new = await store.token_of("C1")
            assert new is not None and version(new) == 2 and new != old
            await both_ways()  # asking by version 2; asked by version 1, found beside
            await restart(env, tokens)  # … the token service now makes version 2
            await both_ways()

            await step("retire")  # 3. version 1 retired
            await restart(env, tokens)
            await both_ways()
            await flow.pause()
            statuses = [(a.status, a.code) for a in flow.answers]
            assert statuses == [("ok", "")] * len(flow.answers), "no query lost or refused"
            assert flow.answers[-1].data == {"local_tax": {"fiscal_year": 2024, **TAX_YEAR["2024"]}}
            async with pool.acquire() as conn:
                left = await conn.fetch("SELECT token, token_alt FROM office_shinjuku_tax.docs")
            assert [(version(r["token"]), r["token_alt"]) for r in left] == [(2, None)] * 2

            refused = await ask(tax, old)  # a version-1 token of 税務課's, kept somewhere
            assert (refused.status, refused.code) == ("refused", "token.unknown_version")
            assert refused.record_id is not None
        finally:
            await flow.pause()
            await flow.node.stop()
            await flow.node.bus.close()
            await tax.aclose()
            codes = await stop([*tokens, *offices, *hubs])
            await pool.close()
        assert codes == [0] * len(codes)
        admin = await asyncpg.connect(env["RENKEI_DB_URL"])
        try:  # the refusal is on record, like any other
            outcome = await admin.fetchval(
                "SELECT outcome FROM records.access_record WHERE record_id = $1", refused.record_id
            )
        finally:
            await admin.close()
        assert outcome == "refused"
        code, out = await cli(env, "records", "verify")
        assert code == 0, out
