"""Numbering as the law does it, the pure parts and J-LIS's: a number change (番号法 第7条第2項)
filed at the desk — what it takes, when the register refuses it, the record after it — J-LIS
generating the next number once per request, never reusing one, refusing the dead, another
municipality's resident and a tenth change; and the notice (個人番号通知書) that tells the
resident, whose repr never shows the number."""

from __future__ import annotations

import datetime as dt

import pytest
from test_offices_register_desk import RESIDENT as ON_REGISTER
from test_offices_register_desk import RRC

from agencies.jlis.numbers import MAX_GENERATION
from agencies.jlis.registry import NUMBER_CHANGE, Jlis
from agencies.municipality.numbering import BIRTH, CHANGE, notice
from agencies.municipality.numbering import ENTRY as ENTRY_REASON
from agencies.municipality.register_desk import applied, parse, refusal
from hub.node import OfficeError
from hub.numbers import resident_record_code
from hub.wire import Facts, Presented, Refused, Resolved

RESIDENT = {**ON_REGISTER, "number": "123456789018"}
KEPT = Facts.of(RESIDENT)
ON = "2026-12-01"
WHEN = dt.date(2026, 12, 1)


# ---- the desk's pure core -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({}, "a number needs by"),
        ({"by": "leak"}, "request or ex officio"),
        ({"by": "request", "name": "x"}, "takes no name"),
        ({"by": "request", "number": "123456789018"}, "takes no number"),  # J-LIS chooses it
        ({"by": "x" * 100}, "at most 64"),
    ],
)
def test_a_malformed_number_change_is_refused(fields: dict[str, str], said: str) -> None:
    with pytest.raises(OfficeError) as bad:
        parse("number", "R1", ON, fields)
    assert bad.value.code == "register.bad_filing" and said in str(bad.value)


@pytest.mark.parametrize("by", ["request", "ex_officio"])
def test_a_number_change_is_applied_to_a_living_resident(by: str) -> None:
    filing = parse("number", "R1", ON, {"by": by})
    assert refusal(filing, RESIDENT, None) is None
    record = applied(filing, RESIDENT)
    assert record["number_changed"] == ON
    assert record["number"] == RESIDENT["number"]  # the new number is J-LIS's to give


@pytest.mark.parametrize(
    ("resident", "code", "said"),
    [
        (None, "register.not_on_register", "no resident 'R1'"),
        ({**RESIDENT, "died": "2026-11-30"}, "register.out_of_order", "no new number for the dead"),
        ({**RESIDENT, "move_out": "2026-11-30"}, "register.out_of_order", "filed a move out"),
        ({**RESIDENT, "number_changed": ON}, "register.already_applied", "a duplicate"),
    ],
)
def test_a_number_change_the_register_refuses(
    resident: dict[str, str] | None, code: str, said: str
) -> None:
    refused = refusal(parse("number", "R1", ON, {"by": "request"}), resident, None)
    assert refused is not None and refused.code == code and said in str(refused)


def test_the_same_request_again_is_refused_once_applied() -> None:
    filing = parse("number", "R1", ON, {"by": "request"})
    logged = {"kind": "number", "local_id": "R1", "state": "applied", "applied": ON}
    refused = refusal(filing, RESIDENT, logged)
    assert refused is not None and refused.code == "register.already_applied"
    begun = {"kind": "number", "local_id": "R1", "state": "begun"}
    assert refusal(filing, RESIDENT, begun) is None  # a lost reply: retried under its id


ENTRY = {
    "name": "Smith John",
    "birth_date": "1990-01-01",
    "sex": "1",
    "address": "東京都千代田区九段南一丁目2番1号",
    "from_address": "London, United Kingdom",
    "household": "HX",
}


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({k: v for k, v in ENTRY.items() if k != "from_address"}, "needs from_address"),
        ({**ENTRY, "birth_date": "2027-01-01"}, "born before the move"),
        ({**ENTRY, "number": "123456789018"}, "takes no number"),  # J-LIS generates it
        ({**ENTRY, "from_address": "x" * 401}, "at most 400"),
    ],
)
def test_a_malformed_first_entry_is_refused(fields: dict[str, str], said: str) -> None:
    with pytest.raises(OfficeError) as bad:
        parse("entry", "E1", ON, fields)
    assert bad.value.code == "register.bad_filing" and said in str(bad.value)


def test_a_first_entry_makes_a_new_record_or_is_refused_for_a_local_id_taken() -> None:
    filing = parse("entry", "E1", ON, ENTRY)
    assert refusal(filing, None, None) is None
    made = applied(filing, None)
    assert (made["relationship"], made["from_address"]) == ("世帯主", ENTRY["from_address"])
    taken = refusal(filing, RESIDENT, None)
    assert taken is not None and taken.code == "register.already_applied"


# ---- J-LIS: generated once per request, never reused -----------------------------------------


async def test_jlis_changes_a_number_once_per_request_and_the_old_one_stops(jlis: Jlis) -> None:
    old = jlis.numbers.number_for(RRC, 0)
    new = await jlis.change_number(RRC, municipality="131016", on=WHEN, event="e1")
    again = await jlis.change_number(RRC, municipality="131016", on=WHEN, event="e1")
    assert new == again != old  # asked again under its id: the same new number, changed once
    doc = await jlis.store.get("residents", RRC)
    assert doc is not None and doc["generation"] == 1 and doc["changes"] == [ON]
    assert [(h["event"], h["reason"]) for h in doc["history"]] == [("e1", NUMBER_CHANGE)]
    stale = await jlis.resolve(Presented(number=old, facts=KEPT).model_dump_json().encode())
    assert isinstance(stale, Refused) and stale.code == "jlis.number_changed"
    assert f"replaced on {ON}" in stale.reason
    current = await jlis.resolve(Presented(number=new, facts=KEPT).model_dump_json().encode())
    assert isinstance(current, Resolved) and current.mismatched == ()
    assert jlis.code_of(old) == jlis.code_of(new) == RRC  # one resident-record code: one person


async def test_every_number_ever_given_is_distinct(jlis: Jlis) -> None:
    numbers = [jlis.numbers.number_for(RRC, 0)]
    for n in range(MAX_GENERATION):
        numbers.append(await jlis.change_number(RRC, municipality="131016", on=WHEN, event=f"e{n}"))
    others = {jlis.numbers.number_for(resident_record_code(f"{c:010d}")) for c in range(5000)}
    assert len(set(numbers)) == MAX_GENERATION + 1 and not set(numbers) & others
    with pytest.raises(OfficeError) as exhausted:
        await jlis.change_number(RRC, municipality="131016", on=WHEN, event="e-last")
    assert exhausted.value.code == "jlis.numbers_exhausted"


async def test_jlis_refuses_a_change_for_no_one_another_municipality_or_the_dead(
    jlis: Jlis,
) -> None:
    nobody_rrc = resident_record_code("2345678901")
    with pytest.raises(OfficeError) as nobody:
        await jlis.change_number(nobody_rrc, municipality="131016", on=WHEN, event="x")
    assert nobody.value.code == "jlis.unknown_resident"
    with pytest.raises(OfficeError) as other:  # 新宿区 cannot renumber a 千代田区 resident
        await jlis.change_number(RRC, municipality="131041", on=WHEN, event="y")
    assert other.value.code == "jlis.not_the_municipality"
    await jlis.noted(RRC, KEPT, municipality="131016", reason="死亡", effective=WHEN, event="d")
    with pytest.raises(OfficeError) as dead:
        await jlis.change_number(RRC, municipality="131016", on=WHEN, event="z")
    assert dead.value.code == "jlis.deceased"
    doc = await jlis.store.get("residents", RRC)
    assert doc is not None and doc["generation"] == 0  # nothing changed


# ---- the notice ---------------------------------------------------------------------------


def test_the_notice_says_why_and_hides_the_number_in_its_repr() -> None:
    born = notice("R1", RESIDENT, WHEN, "ev-1", reason=BIRTH)
    assert (born.reason, born.by, born.number) == (BIRTH, "", RESIDENT["number"])
    changed = notice("R1", RESIDENT, WHEN, "ev-2", reason=CHANGE, by="ex_officio")
    assert notice("R1", RESIDENT, WHEN, "ev-3", reason=ENTRY_REASON).by == ""
    assert (changed.reason, changed.by) == (CHANGE, "職権")
    assert RESIDENT["number"] not in repr(changed)
    assert changed.as_dict()["number"] == RESIDENT["number"]
