"""住基ネット on the in-process broker (the embedded default): the topology's permissions, J-LIS's
server and a register's link — the municipality from the broker user, refusals with a reason
and a dead letter, each event once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from test_offices_register_desk import KEPT, RRC

from agencies.jlis.juki import JukiServer
from agencies.jlis.registry import Jlis
from agencies.municipality.juki import JukiLink
from hub.bus import AccessRefused, Delivery, InMemoryBroker, OutMessage
from hub.bus.juki import (
    JUKI_IN,
    JUKI_JLIS,
    JUKI_MAX_BYTES,
    JUKI_OUT,
    juki_identity,
    juki_notices,
    juki_office,
    juki_replies,
    juki_topology,
)
from hub.node import OFFICE_TIMED_OUT, OfficeError
from hub.numbers import resident_record_code
from hub.wire import Facts
from hub.wire.juki import JukiNotice

CHIYODA, SHINJUKU = "chiyoda-resident", "shinjuku-resident"
REGISTERS = {CHIYODA: "131016", SHINJUKU: "131041"}


def test_who_may_do_what() -> None:
    topo = juki_topology(REGISTERS)
    perm = {p.identity: p for p in topo.permissions}
    chiyoda, jlis = perm[juki_identity(CHIYODA)], perm[juki_identity("jlis")]
    assert chiyoda.may_write(JUKI_IN) and not chiyoda.may_write(JUKI_OUT)
    assert chiyoda.may_read(juki_replies(CHIYODA))
    assert not chiyoda.may_read(juki_replies(SHINJUKU)) and not chiyoda.may_read(JUKI_JLIS)
    assert jlis.may_write(JUKI_OUT) and not jlis.may_write(JUKI_IN) and jlis.may_read(JUKI_JLIS)
    assert set(topo.identities) == {juki_identity(c) for c in (CHIYODA, SHINJUKU, "jlis")}
    assert all(p.configure == "^$" for p in topo.permissions)
    assert juki_office(juki_identity(CHIYODA)) == CHIYODA and juki_office(CHIYODA) is None


def test_jlis_is_no_register() -> None:
    with pytest.raises(ValueError, match="distinct"):
        juki_topology({"jlis": "131016"})


class Juki:
    def __init__(self, jlis: Jlis) -> None:
        self.broker = InMemoryBroker(juki_topology(REGISTERS))
        self.server = JukiServer(jlis, self.broker.connect(juki_identity("jlis")), REGISTERS)
        self.links = {
            c: JukiLink(c, self.broker.connect(juki_identity(c)), timeout=2) for c in REGISTERS
        }


@pytest.fixture
async def juki(jlis: Jlis) -> AsyncIterator[Juki]:
    j = Juki(jlis)
    await j.server.start()
    for link in j.links.values():
        await link.start()
    yield j
    for link in j.links.values():
        await link.stop()
    await j.server.stop()


async def test_an_office_of_the_provision_network_cannot_connect() -> None:
    broker = InMemoryBroker(juki_topology(REGISTERS))
    for identity in (CHIYODA, "chiyoda-child", "hub"):
        with pytest.raises(AccessRefused):
            broker.connect(identity)


async def test_a_note_from_the_municipality_of_record_is_kept(juki: Juki, jlis: Jlis) -> None:
    facts = Facts.of({**KEPT.model_dump(), "name": "佐藤 翼"})
    event = str(uuid.uuid4())
    for _ in range(2):  # a retry after a lost answer: once
        await juki.links[CHIYODA].noted(
            RRC, facts, municipality="131016", reason="氏名変更", effective=dt.date(2026, 12, 1),
            event=event,
        )  # fmt: skip
    doc = await jlis.store.get("residents", RRC)
    assert doc is not None and doc["facts"]["name"] == "佐藤 翼"
    assert [h["event"] for h in doc["history"]] == [event]


async def test_the_municipality_is_the_broker_users_not_the_callers(juki: Juki, jlis: Jlis) -> None:
    """新宿区's register claiming 千代田区 (the argument is not even sent): refused."""
    facts = Facts.of({**KEPT.model_dump(), "name": "偽"})
    with pytest.raises(OfficeError) as refused:
        await juki.links[SHINJUKU].noted(RRC, facts, municipality="131016", reason="氏名変更")
    assert refused.value.code == "jlis.not_the_municipality"
    doc = await jlis.store.get("residents", RRC)
    assert doc is not None and doc["facts"]["name"] == KEPT.name


async def test_born_code_of_and_change_number(juki: Juki, jlis: Jlis) -> None:
    link, event = juki.links[CHIYODA], str(uuid.uuid4())
    rrc = resident_record_code("5550001112")
    on = dt.date(2026, 12, 1)
    number = await link.born(rrc, KEPT, municipality="131016", effective=on, event=event)
    assert number == await link.born(rrc, KEPT, municipality="131016", effective=on, event=event)
    assert await link.code_of(number) == rrc
    new = await link.change_number(rrc, municipality="131016", on=on, event=str(uuid.uuid4()))
    assert new != number and await link.code_of(new) == rrc
    with pytest.raises(OfficeError) as refused:
        await link.code_of("123456789010")
    assert refused.value.code.startswith("jlis.")


async def test_no_answer_is_a_time_out(jlis: Jlis) -> None:
    j = Juki(jlis)  # J-LIS not started
    link = j.links[CHIYODA]
    link.timeout = 0.2
    await link.start()
    with pytest.raises(OfficeError) as late:
        await link.code_of("123456789018")
    assert late.value.code == OFFICE_TIMED_OUT
    await link.stop()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe", "juki.malformed"),
        (b'{"v": 1, "act": "noted", "rrc": "12345678903"}', "juki.malformed"),
        (b'{"v": 1, "act": "code_of", "number": "123456789018", "extra": 1}', "juki.malformed"),
        (b"[" + b"1," * JUKI_MAX_BYTES + b"1]", "juki.oversized"),
    ],
)
async def test_a_bad_message_is_answered_with_a_reason_and_dead_lettered(
    juki: Juki, body: bytes, code: str
) -> None:
    await juki.links[CHIYODA].stop()  # this test reads the answers itself
    bus = juki.broker.connect(juki_identity(CHIYODA))
    got: asyncio.Queue[Delivery] = asyncio.Queue()

    async def keep(d: Delivery) -> None:
        await got.put(d)
        await d.ack()

    await bus.consume(juki_replies(CHIYODA), keep)
    await bus.publish(JUKI_IN, JUKI_JLIS, OutMessage(body, message_id="m1"))
    answer = await asyncio.wait_for(got.get(), 5)
    assert answer.correlation_id == "m1" and code.encode() in answer.body
    assert juki.broker.depth("renkei.dead") == 1
    await bus.close()


async def test_an_entry_of_someone_numbered_before_gets_no_second_number(
    juki: Juki, jlis: Jlis
) -> None:
    """A resident returning (or registered again) as a first entry: J-LIS keeps them by name,
    birth date and sex (the address changed), so no second number; someone else is numbered."""
    link, on = juki.links[SHINJUKU], dt.date(2026, 12, 1)
    back = Facts.of({**KEPT.model_dump(), "address": "東京都新宿区西新宿二丁目8番1号"})
    entry = "国外からの転入"
    with pytest.raises(OfficeError) as refused:
        await link.born(
            resident_record_code("5550002223"), back, municipality="131041", effective=on,
            event=str(uuid.uuid4()), reason=entry,
        )  # fmt: skip
    assert refused.value.code == "jlis.already_numbered"
    other = Facts.of({**back.model_dump(), "birth_date": "1991-01-01"})
    number = await link.born(
        resident_record_code("5550002223"), other, municipality="131041", effective=on,
        event=str(uuid.uuid4()), reason=entry,
    )  # fmt: skip
    assert len(number) == 12


# ---- J-LIS's 異動等失効情報 to its CA -------------------------------------------------------------

CA = "jlis-pki"


def test_the_ca_reads_its_notices_and_writes_nothing() -> None:
    topo = juki_topology(REGISTERS, ca=CA)
    perm = {p.identity: p for p in topo.permissions}
    ca, jlis = perm[juki_identity(CA)], perm[juki_identity("jlis")]
    chiyoda = perm[juki_identity(CHIYODA)]
    assert ca.may_read(juki_notices(CA)) and not ca.may_read(JUKI_JLIS)
    assert not ca.may_write(JUKI_IN) and not ca.may_write(JUKI_OUT)
    assert jlis.may_write(JUKI_OUT) and not jlis.may_read(juki_notices(CA))
    assert not chiyoda.may_write(JUKI_OUT) and not chiyoda.may_read(juki_notices(CA))
    with pytest.raises(ValueError, match="distinct"):
        juki_topology(REGISTERS, ca=CHIYODA)


async def test_jlis_notifies_its_ca_of_what_revokes_and_nothing_else(jlis: Jlis) -> None:
    broker = InMemoryBroker(juki_topology(REGISTERS, ca=CA))
    server = JukiServer(jlis, broker.connect(juki_identity("jlis")), REGISTERS, CA)
    link = JukiLink(CHIYODA, broker.connect(juki_identity(CHIYODA)), timeout=2)
    got: list[dict[str, str]] = []

    async def keep(d: Delivery) -> None:
        notice = JukiNotice.model_validate_json(d.body)
        assert notice.at is not None  # J-LIS's 記録年月日
        got.append(notice.model_dump(exclude={"at"}))
        await d.ack()

    await server.start()
    await link.start()
    sub = await broker.connect(juki_identity(CA)).consume(juki_notices(CA), keep)
    facts = Facts.of({**KEPT.model_dump(), "name": "佐藤 翼"})
    on, events = dt.date(2026, 12, 1), [str(uuid.uuid4()) for _ in range(3)]
    await link.noted(RRC, facts, municipality="131016", reason="氏名変更", event=events[0])
    await link.noted(RRC, facts, municipality="131016", reason="世帯変更", event=events[1])
    await link.change_number(RRC, municipality="131016", on=on, event=events[2])
    async with asyncio.timeout(5):
        while len(got) < 2:  # noqa: ASYNC110 - the in-process broker delivers in a task
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert got == [
        {"v": 1, "event": events[0], "rrc": RRC, "kind": "name_changed"},
        {"v": 1, "event": events[2], "rrc": RRC, "kind": "number_changed"},
    ]
    await sub.cancel()
    await link.stop()
    await server.stop()
