"""The resident's やりとり履歴 for a person with many records: each disclosure answer fits in one
message of the network, newest first, and the portal pages back through the rest (issue 15:
a soak's residents passed ~170 records each at 682 s, and from then on every history page of
theirs timed out)."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib

import orjson
import pytest
from e2e_env import Env, RawOffice
from test_insider_queries import PORTAL, refusal, variant
from test_query_flow import ask, person, query, records_of

from hub.records import RecordDraft
from hub.routing.desks.portal import JST
from hub.wire import MAX_MESSAGE_BYTES, Answered, encode
from hub.wire import open_sealed as unseal
from renkei.network import Network

MANY = 400  # well past what one answer could hold (~170 records of ~380 bytes sealed)


async def fill(env: Env, net: Network, rrc: str, n: int) -> list[uuid.UUID]:
    """``n`` records of offices' queries about the person, oldest first; their ids."""
    assert net.records is not None
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    drafts = [
        RecordDraft(
            query_id=uuid.uuid4(),
            requester="chiyoda-child",
            provider="shinjuku-tax",
            affair="child_allowance",
            items=("local_tax",),
            asked_at=t0 + dt.timedelta(minutes=i),
            answered_at=t0 + dt.timedelta(minutes=i, seconds=1),
            outcome="ok",
            query_digest=bytes(32),
            person=env.token(rrc, "hub"),
        )
        for i in range(n)
    ]
    for i in range(0, n, 100):
        await net.records.append(drafts[i : i + 100])
    return [d.record_id for d in drafts]


async def disclosed(env: Env, portal: RawOffice, rrc: str, params: dict[str, str]) -> dict:  # type: ignore[type-arg]
    q = query(
        env.token(rrc, PORTAL), sender=PORTAL, provider="hub", items=("access_records",), params={}
    )
    await ask(portal, variant(q, affair="disclosure", params=params))
    reply = await portal.reply()
    assert isinstance(reply.outcome, Answered), reply.outcome
    assert len(encode(reply)) <= MAX_MESSAGE_BYTES
    return orjson.loads(unseal(reply.outcome.payload, env.state.keys[PORTAL].sealing))  # type: ignore[no-any-return]


async def test_a_long_history_comes_in_pages_that_each_fit_a_message(env: Env) -> None:
    net = await env.network()
    portal = await env.raw(net, PORTAL)
    rrc = await person(env, net, 61)
    ids = await fill(env, net, rrc, MANY)
    first = await disclosed(env, portal, rrc, {})
    assert first["access_records"][0]["record_id"] == str(ids[-1])  # newest first
    seen = [r["record_id"] for r in first["access_records"]]
    older = first["older"]
    while older is not None:
        got = await disclosed(env, portal, rrc, {"before": older})
        assert got["access_records"], "a page pointed to by older is never empty"
        seen += [r["record_id"] for r in got["access_records"]]
        older = got["older"]
    # every record exactly once, newest first; the portal's own disclosures (recorded as each
    # page is answered) come after the pages began, so the filled ones are the tail
    assert seen[-MANY:] == [str(i) for i in reversed(ids)]
    assert len(seen) == len(set(seen))


async def test_the_filters_apply_before_the_page_is_cut(env: Env) -> None:
    net = await env.network()
    portal = await env.raw(net, PORTAL)
    rrc = await person(env, net, 62)
    ids = await fill(env, net, rrc, 300)  # one a minute from 30 days ago: one JST day or two
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).astimezone(JST).date().isoformat()
    got = await disclosed(env, portal, rrc, {"office": "chiyoda-child", "since": day, "until": day})
    rows = got["access_records"]
    assert rows and all(r["requester"] == "chiyoda-child" for r in rows)
    assert {r["record_id"] for r in rows} <= {str(i) for i in ids}
    none = await disclosed(env, portal, rrc, {"office": "nenkin"})
    assert none == {"access_records": [], "older": None}


@pytest.mark.parametrize(
    "params",
    [
        {"before": -1},
        {"before": 0},
        {"before": "12"},
        {"since": "2024-13-01"},
        {"until": "yesterday"},
        {"office": "Chiyoda Child"},
        {"office": 7},
        {"page": 2},
    ],
)
async def test_a_malformed_filter_is_refused_and_recorded(env: Env, params: dict) -> None:  # type: ignore[type-arg]
    net = await env.network()
    portal = await env.raw(net, PORTAL)
    rrc = await person(env, net, 1000 + zlib.crc32(repr(params).encode()) % 10**6)  # a case each
    q = query(
        env.token(rrc, PORTAL), sender=PORTAL, provider="hub", items=("access_records",), params={}
    )
    refused = await refusal(portal, variant(q, affair="disclosure", params=params))
    assert refused.code == "hub.bad_disclosure"
    [record] = await records_of(env, net, rrc)
    assert record.outcome == "refused" and record.reason.startswith("hub.bad_disclosure")
