"""A query end to end, and every way a request can be wrong: each gets a clear reply and a record."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid

import orjson
import pytest
from e2e_env import Env, RawOffice

from agencies.jlis.numbers import generate_rrc
from hub.bus import REASON_HEADER, Delivery
from hub.routing.finish import record_key
from hub.wire import (
    Answered,
    Envelope,
    Failed,
    OfficeKeys,
    ProviderReply,
    Query,
    Refused,
    TimedOut,
    encode,
    open_sealed,
)
from renkei.network import Network

# two wards: the ward's own offices read each other in-house (庁内連携), not over the network
CHILD, TAX, RESIDENT = "chiyoda-child", "shinjuku-tax", "shinjuku-resident"


async def person(env: Env, net: Network, seed: int) -> str:
    """A taxpayer and resident known to the tax office and register; returns the rrc."""
    rrc = generate_rrc(random.Random(seed))
    tax_doc = {
        "name": "佐藤 花子",
        "years": {"2024": {"total_income": 3_000_000, "municipal_income_levy": 120_000}},
    }
    await net.stores[TAX].put_many("taxpayers", [(f"T{seed}", env.token(rrc, TAX), tax_doc)])
    home = {
        "head": f"R{seed}",
        "members": [f"R{seed}"],
        "address": "東京都千代田区九段南一丁目2番1号",
    }
    resident = {
        "name": "佐藤 花子",
        "birth_date": "1985-04-02",
        "sex": "2",
        "address": home["address"],
        "household": f"H{seed}",
        "relationship": "世帯主",
    }
    await net.stores[RESIDENT].put_many(
        "residents", [(f"R{seed}", env.token(rrc, RESIDENT), resident)]
    )
    await net.stores[RESIDENT].put_many("households", [(f"H{seed}", None, home)])
    return rrc


def query(
    person: str,
    *,
    sender: str = CHILD,
    provider: str = TAX,
    items: tuple[str, ...] = ("local_tax",),
    deadline: float = 5.0,
    params: dict[str, str | int] | None = None,
) -> Query:
    now = dt.datetime.now(dt.UTC)
    qid = uuid.uuid4()
    return Query(
        envelope=Envelope(
            message_id=qid,
            correlation_id=qid,
            sender=sender,
            recipient=provider,
            affair="child_allowance",
            issued_at=now,
            deadline=now + dt.timedelta(seconds=deadline),
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        ),
        person=person,
        items=items,
        params={"fiscal_year": 2024} if params is None else params,
    )


async def ask(child: RawOffice, q: Query) -> None:
    await child.send(encode(q), message_id=str(q.envelope.message_id))


async def dead_letter(dead: asyncio.Queue[Delivery], reason: str) -> Delivery:
    """The next dead letter with this reason (others, e.g. expired leftovers, are passed over)."""
    async with asyncio.timeout(5):
        while True:
            letter = await dead.get()
            if letter.headers[REASON_HEADER].startswith(reason):
                return letter


async def records_of(env: Env, net: Network, rrc: str) -> list:  # type: ignore[type-arg]
    assert net.records is not None
    return await net.records.for_person(env.token(rrc, "hub"), include_not_disclosed=True)


async def test_answer_is_sealed_for_the_requester_and_recorded(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 1)
    q = query(env.token(rrc, CHILD))
    await ask(child, q)
    reply = await child.reply()
    assert reply.envelope.correlation_id == q.envelope.message_id
    assert isinstance(reply.outcome, Answered)
    data = orjson.loads(open_sealed(reply.outcome.payload, env.state.keys[CHILD].sealing))
    assert data == {
        "local_tax": {
            "fiscal_year": 2024,
            "total_income": 3_000_000,
            "municipal_income_levy": 120_000,
        }
    }
    [record] = await records_of(env, net, rrc)
    assert (record.requester, record.provider, record.outcome) == (CHILD, TAX, "ok")
    assert record.record_id == reply.record_id and record.items == ("local_tax",)


async def test_household_from_the_resident_register(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 2)
    await ask(child, query(env.token(rrc, CHILD), provider=RESIDENT, items=("resident_record",)))
    reply = await child.reply()
    assert isinstance(reply.outcome, Answered)
    data = orjson.loads(open_sealed(reply.outcome.payload, env.state.keys[CHILD].sealing))
    assert data["resident_record"]["household"][0]["relationship"] == "世帯主"


@pytest.mark.parametrize(
    ("provider", "items", "code"),
    [
        (RESIDENT, ("public_assistance",), "routing.no_row"),  # the legal table says no
        ("nowhere", ("local_tax",), "routing.unknown_provider"),  # no such office
        (RESIDENT, ("local_tax",), "routing.item_not_held"),  # allowed, but not held there
    ],
)
async def test_refusals_are_explained_and_recorded(
    env: Env, provider: str, items: tuple[str, ...], code: str
) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 30 + 3 * len(code) + len(provider))  # one person per case
    await ask(child, query(env.token(rrc, CHILD), provider=provider, items=items))
    reply = await child.reply()
    assert isinstance(reply.outcome, Refused)
    assert reply.outcome.code == code and reply.outcome.reason
    [record] = await records_of(env, net, rrc)  # the resident sees refused accesses too
    assert record.outcome == "refused" and record.reason.startswith(code)


async def test_token_of_another_office_or_altered_is_refused(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 4)
    foreign = env.token(rrc, TAX)  # the tax office's token, presented by the child office
    token = env.token(rrc, CHILD)
    altered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for bad in (foreign, altered):
        await ask(child, query(bad))
        reply = await child.reply()
        assert isinstance(reply.outcome, Refused)
        assert reply.outcome.code == "token.forged", reply.outcome
    assert await records_of(env, net, rrc) == []  # the person is unknown to a forged token…
    assert net.records is not None
    before = await net.records.count()
    await ask(child, query(altered))
    await child.reply()
    assert await net.records.count() == before + 1  # …but every refusal is recorded


async def test_malformed_and_unknown_fields_get_an_error_reply_and_a_dead_letter(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    dead = await env.dead_letters(net)
    rrc = await person(env, net, 5)
    good = orjson.loads(encode(query(env.token(rrc, CHILD))))
    extra = orjson.dumps({**good, "smuggled": 1})
    for body, words in ((b'{"kind": "query", oops', "Invalid JSON"), (extra, "Extra inputs")):
        mid = str(uuid.uuid4())
        await child.send(body, message_id=mid)
        reply = await child.reply()
        assert isinstance(reply.outcome, Failed)
        assert (reply.outcome.family, reply.outcome.code) == ("requester", "wire.malformed")
        assert words in reply.outcome.reason
        assert str(reply.envelope.correlation_id) == mid
        await dead_letter(dead, "wire.malformed")
        assert net.records is not None
        key = record_key(CHILD, uuid.UUID(mid))  # records are keyed by requester and query id
        assert key in await net.records.exists([key])


async def test_oversized_message(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    await child.send(b"{" + b" " * 70_000 + b"}", message_id=str(uuid.uuid4()))
    reply = await child.reply()
    assert isinstance(reply.outcome, Failed) and reply.outcome.code == "wire.too_large"


async def test_sender_must_match_the_broker_user_and_the_signature(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 6)
    # claims to be the tax office, but the broker says chiyoda-child: the answer goes to the real sender
    await ask(child, query(env.token(rrc, TAX), sender=TAX))
    reply = await child.reply()
    assert isinstance(reply.outcome, Refused) and reply.outcome.code == "hub.sender_mismatch"
    # signed by a key that is not the office's
    q = query(env.token(rrc, CHILD))
    impostor = RawOffice(CHILD, child.bus, OfficeKeys.generate())
    await impostor.send(encode(q), message_id=str(q.envelope.message_id))
    reply = await child.reply()
    assert isinstance(reply.outcome, Refused) and reply.outcome.code == "wire.bad_signature"
    # not signed at all
    q = query(env.token(rrc, CHILD))
    await child.send(encode(q), message_id=str(q.envelope.message_id), signed=False)
    reply = await child.reply()
    assert isinstance(reply.outcome, Refused) and "no signature" in reply.outcome.reason


async def test_a_replayed_query_is_answered_once_and_the_copy_refused(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 7)
    q = query(env.token(rrc, CHILD))
    await ask(child, q)
    await ask(child, q)  # the very same message again (the office's, not the broker's)
    replies = [await child.reply(), await child.reply()]
    await child.no_more_replies()
    [answer] = [r for r in replies if isinstance(r.outcome, Answered)]
    [copy] = [r.outcome for r in replies if isinstance(r.outcome, Refused)]
    assert copy.code == "hub.replayed_query"
    [record] = await records_of(env, net, rrc)  # the copy's refusal is recorded on its own
    assert record.record_id == answer.record_id and record.outcome == "ok"


async def test_a_provider_that_never_answers_times_out_explicitly(env: Env) -> None:
    net = await env.network(run=("hub", "token", "jlis", RESIDENT))  # the tax office is down
    child = await env.raw(net, CHILD)
    rrc = generate_rrc(random.Random(8))
    await ask(child, query(env.token(rrc, CHILD), deadline=0.6))
    reply = await child.reply()
    assert isinstance(reply.outcome, TimedOut)
    [record] = await records_of(env, net, rrc)
    assert record.outcome == "timed_out" and record.provider == TAX
    await child.no_more_replies()


async def test_a_query_past_its_deadline_is_answered_timed_out(env: Env) -> None:
    """What its requester concluded on its own at the deadline: one outcome for both."""
    net = await env.network()
    child = await env.raw(net, CHILD)
    rrc = await person(env, net, 9)
    q = query(env.token(rrc, CHILD), deadline=-1)
    await ask(child, q)
    reply = await child.reply()
    assert isinstance(reply.outcome, TimedOut)
    # decided before any token is translated: recorded under its query id, without a person
    assert net.records is not None
    key = record_key(CHILD, uuid.UUID(str(q.envelope.message_id)))
    recorded = await net.records.recorded(key)
    assert recorded is not None and recorded[0] == "timed_out"


async def test_a_forged_reply_is_dead_lettered_with_the_reason(env: Env) -> None:
    net = await env.network()
    child = await env.raw(net, CHILD)
    dead = await env.dead_letters(net)
    q = query("A" * 44)
    forged = ProviderReply(
        envelope=q.envelope.model_copy(update={"recipient": "hub"}),
        context="bm90LXRoZS1odWJz",
        outcome=Refused(code="office.fake", reason="fake"),
    )
    await child.send(encode(forged), key="reply")
    await dead_letter(dead, "routing.forged_context")
    await child.no_more_replies(0.2)
