"""J-LIS's 本人確認情報 and the identity check at enrollment (番号法 第16条): an office presents a
number with the four facts it holds; J-LIS names the facts its record does not bear out."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agencies.jlis.numbers import NumberGenerator
from agencies.jlis.registry import Jlis
from agencies.municipality.moving import move_in
from hub.identity import mismatched
from hub.node import MemoryStore, OfficeError
from hub.wire import Facts, NotFound, Presented, Refused, Resolved

RRC = "12345678903"
KEPT = Facts(
    name="高橋 翼", address="東京都千代田区九段南一丁目2番1号", birth_date="1990-05-05", sex="1"
)
OTHER = {
    "name": "高橋 翔",
    "address": "東京都新宿区西新宿二丁目8番1号",
    "birth_date": "1990-05-06",
    "sex": "2",
}


@pytest.fixture
async def jlis() -> Jlis:
    j = Jlis(MemoryStore(), NumberGenerator(b"j" * 32), X25519PrivateKey.generate().public_key())
    await j.register({RRC: KEPT}, municipality="131016")
    return j


def presented(number: str, facts: Facts = KEPT) -> bytes:
    return Presented(number=number, facts=facts).model_dump_json().encode()


async def test_matching_facts_resolve_with_nothing_mismatched(jlis: Jlis) -> None:
    number = jlis.numbers.number_for(RRC, 0)
    outcome = await jlis.resolve(presented(number))
    assert isinstance(outcome, Resolved)
    assert (outcome.mismatched, outcome.municipality) == ((), "131016")
    assert "mismatched" not in outcome.model_dump_json()  # the wire reads as before


@pytest.mark.parametrize("fact", ["name", "address", "birth_date", "sex"])
async def test_each_fact_that_differs_is_named(jlis: Jlis, fact: str) -> None:
    number = jlis.numbers.number_for(RRC, 0)
    wrong = KEPT.model_copy(update={fact: OTHER[fact]})
    outcome = await jlis.resolve(presented(number, wrong))
    assert isinstance(outcome, Resolved) and outcome.mismatched == (fact,)
    # which facts, never a value of either record: the code is sealed, the rest is named
    assert set(outcome.model_dump()) == {"status", "rrc", "municipality", "mismatched"}


async def test_made_up_facts_are_all_named(jlis: Jlis) -> None:
    number = jlis.numbers.number_for(RRC, 0)
    outcome = await jlis.resolve(presented(number, Facts.model_validate(OTHER)))
    assert isinstance(outcome, Resolved)
    assert outcome.mismatched == ("name", "address", "birth_date", "sex")


def test_names_compare_as_names_and_addresses_width_blind() -> None:
    kept = KEPT.model_dump()
    same = KEPT.model_copy(
        update={"address": "東京都千代田区九段南一丁目２番１号", "name": "高橋\u3000翼"}
    )
    assert mismatched(same, kept) == ("name",)  # a space inside a name is not nothing
    assert (
        mismatched(KEPT.model_copy(update={"address": "東京都 千代田区九段南一丁目２番１号"}), kept)
        == ()
    )
    variant = {**kept, "name": "神田 翼"}
    assert mismatched(KEPT.model_copy(update={"name": "\ufa19田 翼"}), variant) == ()  # 神 = 神
    assert mismatched(KEPT.model_copy(update={"name": "髙橋 翼"}), kept) == ("name",)


async def test_a_number_not_on_record_is_not_found(jlis: Jlis) -> None:
    stranger = jlis.numbers.number_for("98765432103", 0)
    assert isinstance(await jlis.resolve(presented(stranger)), NotFound)


@pytest.mark.parametrize(
    "payload",
    [
        b"123456789018",  # a bare number: the facts are required
        b"",
        b"{",
        orjson.dumps({"number": "123456789018"}),
        orjson.dumps({"number": "123456789018", "facts": {**OTHER, "sex": "x"}}),
        orjson.dumps({"number": "123456789018", "facts": {**OTHER, "birth_date": "5 May"}}),
        orjson.dumps({"number": "123456789018", "facts": {**OTHER, "name": ""}}),
        orjson.dumps({"number": "123456789018", "facts": {**OTHER, "name": "x" * 10_000}}),
        orjson.dumps({"number": "123456789018", "facts": OTHER, "rrc": RRC}),
        orjson.dumps({"number": "1" * 100_000, "facts": OTHER}),
    ],
    ids=[
        "bare", "empty", "not-json", "no-facts", "bad-sex", "bad-date", "empty-name",
        "oversized-name", "extra-field", "oversized-number",
    ],
)  # fmt: skip
async def test_malformed_enrollments_are_refused_with_the_reason(
    jlis: Jlis, payload: bytes
) -> None:
    outcome = await jlis.resolve(payload)
    assert isinstance(outcome, Refused) and outcome.code == "jlis.malformed_enrollment"
    assert "four facts" in outcome.reason


async def test_a_malformed_number_is_explained(jlis: Jlis) -> None:
    outcome = await jlis.resolve(presented("12345"))
    assert isinstance(outcome, Refused) and outcome.code == "jlis.malformed_number"


async def test_without_a_kept_record_of_facts_nothing_is_resolved(jlis: Jlis) -> None:
    number = jlis.numbers.number_for(RRC, 0)
    await jlis.store.put_many("residents", [(RRC, None, {"generation": 0, "changes": []})])
    outcome = await jlis.resolve(presented(number))
    assert isinstance(outcome, Refused) and outcome.code == "jlis.no_facts"


async def test_a_record_follows_the_municipalitys_entry(jlis: Jlis) -> None:
    moved = KEPT.model_copy(update={"address": OTHER["address"]})
    await jlis.noted(RRC, moved, municipality="131041")
    number = jlis.numbers.number_for(RRC, 0)
    outcome = await jlis.resolve(presented(number, moved))
    assert isinstance(outcome, Resolved)
    assert (outcome.mismatched, outcome.municipality) == ((), "131041")
    old = await jlis.resolve(presented(number))
    assert isinstance(old, Resolved) and old.mismatched == ("address",)
    with pytest.raises(OfficeError) as unknown:
        await jlis.noted("98765432103", moved, municipality="131041")
    assert unknown.value.code == "jlis.unknown_resident"


async def test_a_changed_number_keeps_the_facts(jlis: Jlis) -> None:
    new = await jlis.change_number(RRC, municipality="131016", on=dt.date(2025, 1, 1), event="e")
    outcome = await jlis.resolve(presented(new))
    assert isinstance(outcome, Resolved) and outcome.mismatched == ()


class _NoNetwork:
    async def enroll(self, number: str, facts: Facts) -> str:
        raise AssertionError("a malformed move in enrolls nothing")


@pytest.mark.parametrize(
    "record",
    [{"name": "x"}, {**OTHER, "birth_date": "5 May 1990"}, {**OTHER, "sex": "m"}, {}],
    ids=["name-only", "bad-date", "bad-sex", "empty"],
)
async def test_a_move_in_without_its_four_facts_notes_and_enrolls_nothing(
    record: dict[str, str],
) -> None:
    noted: list[Facts] = []

    async def note(facts: Facts) -> None:
        noted.append(facts)

    with pytest.raises(OfficeError) as refused:
        await move_in(
            _NoNetwork(),  # type: ignore[arg-type]
            MemoryStore(),
            number="123456789018",
            local_id="S1",
            resident=record,
            previous_address=KEPT.address,
            effective=dt.date(2025, 3, 1),
            noted=note,
        )
    assert refused.value.code == "municipality.no_four_facts" and noted == []
