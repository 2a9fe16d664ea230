"""The register events at the municipal desk, their pure parts (``register_desk``): what a
filing may say, why the register refuses it, the record after it; and J-LIS's side of them
(本人確認情報 with its history, once per event; a birth numbered once; nothing after a death)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from agencies.jlis.registry import Jlis
from agencies.municipality.moving import MovedOut, event_for
from agencies.municipality.register_desk import (
    Filing,
    applied,
    parse,
    refusal,
    regrouped,
    rehoused,
)
from hub.node import ApplicationRefused, OfficeError
from hub.numbers import resident_record_code
from hub.wire import Facts, Presented, Refused

RRC = "12345678903"
RESIDENT = {
    "name": "高橋 翼",
    "birth_date": "1990-05-05",
    "sex": "1",
    "address": "東京都千代田区九段南一丁目2番1号",
    "household": "H1",
    "relationship": "世帯主",
    "rrc": RRC,
}
KEPT = Facts.of(RESIDENT)
ON = "2026-12-01"
MOVE_IN = {
    "number": "123456789018",
    "name": "高橋 翼",
    "birth_date": "1990-05-05",
    "sex": "1",
    "address": "東京都新宿区西新宿二丁目8番1号",
    "from_address": "東京都千代田区九段南一丁目2番1号",
    "household": "SH1",
}


def filing(kind: str, **fields: str) -> Filing:
    return parse(kind, "R1", ON, fields)


# ---- parse: malformed, oversized, missing ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "local_id", "effective", "fields", "said"),
    [
        ("marriage", "R1", ON, {}, "no register event 'marriage'"),
        ("death", "", ON, {}, "local id"),
        ("death", "R1; DROP", ON, {}, "local id"),
        ("death", "R" * 65, ON, {}, "local id"),
        ("death", "R1", "2026-13-01", {}, "YYYY-MM-DD"),
        ("death", "R1", "1899-12-31", {}, "before 1900-01-01"),
        ("death", "R1", ON, {"name": "x"}, "takes no name"),
        ("name", "R1", ON, {}, "needs name"),
        ("name", "R1", ON, {"name": "x" * 201}, "at most 200"),
        ("name", "R1", ON, {"name": "   "}, "is text"),
        ("address", "R1", ON, {"address": "x" * 401}, "at most 400"),
        ("move_out", "R1", ON, {"to_municipality": "13104"}, "6-digit"),
        ("household", "R1", ON, {"household": "H 1"}, "household id"),
        ("household", "R1", ON, {"household": "H2", "head": "yes"}, "head is 1"),
        ("household", "R1", ON, {"household": "H2"}, "the relationship to the head"),
        ("birth", "R1", ON, {"name": "x", "sex": "3", "household": "H1"}, "sex is 1, 2 or 9"),
        ("move_in", "R1", ON, {**MOVE_IN, "number": "1234"}, "12 digits"),
        ("move_in", "R1", ON, {**MOVE_IN, "birth_date": "2027-01-01"}, "born before the move"),
        ("move_in", "R1", ON, {k: v for k, v in MOVE_IN.items() if k != "number"}, "needs number"),
    ],
)
def test_a_malformed_filing_is_refused_with_what_is_wrong(
    kind: str, local_id: str, effective: str, fields: dict[str, str], said: str
) -> None:
    with pytest.raises(OfficeError) as bad:
        parse(kind, local_id, effective, fields)
    assert bad.value.code == "register.bad_filing"
    assert said in str(bad.value)


def test_a_bad_event_id_is_refused_and_a_given_one_kept() -> None:
    with pytest.raises(OfficeError, match="UUID"):
        parse("death", "R1", ON, {}, "not-a-uuid")
    eid = uuid.uuid4()
    assert parse("death", "R1", ON, {}, str(eid)).event_id == eid
    assert parse("death", "R1", ON, {}).event_id != parse("death", "R1", ON, {}).event_id


# ---- refusal: not on the register, duplicate, out of order ----------------------------------


def code(f: Filing, resident: dict[str, str] | None, logged: dict[str, str] | None = None) -> str:
    refused = refusal(f, resident, logged)
    return "" if refused is None else refused.code


def test_an_event_for_a_person_not_on_the_register_is_refused() -> None:
    for f in (
        filing("death"),
        filing("name", name="x"),
        filing("household", household="H2", head="1"),
    ):
        assert code(f, None) == "register.not_on_register"


def test_a_duplicate_event_is_refused_and_a_birth_or_move_in_once() -> None:
    f = filing("death")
    begun = {"kind": "death", "local_id": "R1", "state": "begun"}
    assert code(f, RESIDENT, {**begun, "state": "applied"}) == "register.already_applied"
    assert code(f, RESIDENT, {**begun, "state": "refused"}) == "register.already_applied"
    assert code(f, RESIDENT, {**begun, "kind": "name"}) == "register.already_applied"
    assert code(f, RESIDENT, {**begun, "local_id": "R2"}) == "register.already_applied"
    assert code(f, RESIDENT, begun) == ""  # begun, not finished: a retry goes on
    # begun and recorded already: nothing more to refuse (the desk finishes the log)
    assert code(f, {**RESIDENT, "died": ON, "event": str(f.event_id)}, begun) == ""
    born = filing("birth", name="x", sex="1", household="H1")
    assert code(born, RESIDENT) == "register.already_applied"  # the local id is taken
    assert code(born, None) == ""


@pytest.mark.parametrize(
    ("f", "resident", "said"),
    [
        (filing("name", name="x"), {**RESIDENT, "died": "2026-11-01"}, "nothing follows a death"),
        (filing("death"), {**RESIDENT, "died": "2026-11-01"}, "nothing follows a death"),
        (filing("address", address="y"), {**RESIDENT, "move_out": ON}, "filed a move out"),
        (filing("name", name=RESIDENT["name"]), RESIDENT, "nothing changes"),
        (filing("household", household="H1", relationship="妻"), RESIDENT, "nothing changes"),
        (
            parse("death", "R1", "1980-01-01", {}),
            RESIDENT,
            "before R1 was born",
        ),
    ],
)
def test_an_event_out_of_order_is_refused(f: Filing, resident: dict[str, str], said: str) -> None:
    refused = refusal(f, resident, None)
    assert refused is not None and refused.code == "register.out_of_order"
    assert said in str(refused)


def test_a_death_after_a_move_out_filed_ahead_is_taken() -> None:
    assert code(filing("death"), {**RESIDENT, "move_out": "2026-12-20"}) == ""


def test_a_new_head_of_ones_own_household_is_a_change() -> None:
    f = filing("household", household="H1", head="1")
    assert code(f, {**RESIDENT, "relationship": "妻"}) == ""
    assert applied(f, {**RESIDENT, "relationship": "妻"})["relationship"] == "世帯主"


# ---- applied, rehoused ----------------------------------------------------------------------


def test_the_record_after_each_event() -> None:
    assert applied(filing("death"), RESIDENT)["died"] == ON
    assert applied(filing("move_out", to_municipality="131041"), RESIDENT)["move_out"] == ON
    assert applied(filing("name", name="佐藤 翼"), RESIDENT)["name"] == "佐藤 翼"
    assert applied(filing("address", address="新"), RESIDENT)["address"] == "新"
    moved = applied(filing("household", household="H2", relationship="子"), RESIDENT)
    assert (moved["household"], moved["relationship"]) == ("H2", "子")
    child = applied(filing("birth", name="高橋 花", sex="2", household="H1"), RESIDENT)
    assert child == {
        "name": "高橋 花",
        "birth_date": ON,
        "sex": "2",
        "address": RESIDENT["address"],
        "household": "H1",
        "relationship": "子",
    }
    assert "rrc" not in child  # J-LIS's code for the child is the desk's to add
    assert applied(filing("name", name="x"), RESIDENT) is not RESIDENT  # a copy


def test_leaving_a_household_moves_the_member_and_the_head() -> None:
    homes = {"H1": {"head": "R1", "members": ["R1", "R2"]}, "H2": None}
    out = rehoused(homes, "R1", "H1", "H2")
    assert out["H1"] == {"head": "R2", "members": ["R2"]}  # the next member heads it
    assert out["H2"] == {"head": "R1", "members": ["R1"]}  # a new household, headed by R1
    joined = rehoused({"H1": {"head": "R1", "members": ["R1"]}}, "R3", "H1", "H1")
    assert joined["H1"]["members"] == ["R1", "R3"]
    again = rehoused({"H1": {"head": "R1", "members": ["R1", "R3"]}}, "R3", "H1", "H1")
    assert again["H1"]["members"] == ["R1", "R3"]  # never twice


# ---- J-LIS's 本人確認情報 ---------------------------------------------------------------------


async def test_a_change_is_noted_with_its_history_once(jlis: Jlis) -> None:
    renamed = KEPT.model_copy(update={"name": "佐藤 翼"})
    when = dt.date(2026, 12, 1)
    for _ in range(2):  # the same event again: kept once
        await jlis.noted(
            RRC, renamed, municipality="131016", reason="氏名変更", effective=when, event="e1"
        )
    doc = await jlis.store.get("residents", RRC)
    assert doc is not None and doc["facts"]["name"] == "佐藤 翼"
    assert [(h["event"], h["reason"], h["effective"]) for h in doc["history"]] == [
        ("e1", "氏名変更", "2026-12-01")
    ]


async def test_only_the_municipality_of_record_notes_a_change_and_nothing_after_death(
    jlis: Jlis,
) -> None:
    when = dt.date(2026, 12, 1)
    with pytest.raises(OfficeError) as other:  # 新宿区 correcting a 千代田区 resident
        await jlis.noted(RRC, KEPT, municipality="131041", reason="転居", effective=when, event="x")
    assert other.value.code == "jlis.not_the_municipality"
    await jlis.noted(RRC, KEPT, municipality="131016", reason="死亡", effective=when, event="d")
    with pytest.raises(OfficeError) as after:
        await jlis.noted(RRC, KEPT, municipality="131041", effective=when, event="m")  # 転入
    assert after.value.code == "jlis.deceased"
    number = jlis.numbers.number_for(RRC, 0)
    enrolled = await jlis.resolve(Presented(number=number, facts=KEPT).model_dump_json().encode())
    assert isinstance(enrolled, Refused) and enrolled.code == "jlis.deceased"
    with pytest.raises(OfficeError) as renumbered:  # no number change for the dead either
        await jlis.change_number(RRC, municipality="131016", on=when, event="n")
    assert renumbered.value.code == "jlis.deceased"


async def test_a_birth_is_numbered_once_and_a_code_in_use_refused(jlis: Jlis) -> None:
    child = KEPT.model_copy(update={"name": "高橋 花", "birth_date": "2026-12-01"})
    code_ = resident_record_code("2345678901")
    when = dt.date(2026, 12, 1)
    first = await jlis.born(code_, child, municipality="131016", effective=when, event="b1")
    again = await jlis.born(code_, child, municipality="131016", effective=when, event="b1")
    assert first == again == jlis.numbers.number_for(code_, 0)
    with pytest.raises(OfficeError) as taken:
        await jlis.born(RRC, child, municipality="131016", effective=when, event="b2")
    assert taken.value.code == "jlis.code_in_use"
    with pytest.raises(OfficeError) as bad:
        jlis.code_of("123456789012")  # a wrong check digit
    assert bad.value.code == "jlis.bad_check_digit"


# ---- a 転出届 filed online: the desk's move out (moving.MovedOut) -------------------------


class _Desk:
    """The register's desk, faked: it records the move outs filed, or fails with ``fails``."""

    unconfirmed = frozenset({"register.unconfirmed"})

    def __init__(self, fails: str | None = None) -> None:
        self.filed: list[tuple[str, dt.date, str]] = []
        self.ids: list[uuid.UUID] = []
        self.fails = fails

    async def move_out(
        self, person: str, effective: dt.date, to_municipality: str, event_id: uuid.UUID
    ) -> None:
        if self.fails is not None:
            raise OfficeError(self.fails, "it failed")
        self.filed.append((person, effective, to_municipality))
        self.ids.append(event_id)


class _Node:
    code = "chiyoda-resident"


MOVING = {"moving_date": "2026-12-20", "to_municipality": "131041"}
APP = "5f0c7c8e-2d0b-4a8e-9a55-1f6f3f0c2a11"  # the application's id


async def test_a_move_out_filed_online_is_filed_as_the_desk_files_it() -> None:
    desk = _Desk()
    await MovedOut(_Node(), desk)(APP, "T1", "moving", MOVING)  # type: ignore[arg-type]
    assert desk.filed == [("T1", dt.date(2026, 12, 20), "131041")]
    await MovedOut(_Node(), desk)(APP, "T1", "tax_return", MOVING)  # type: ignore[arg-type]
    assert len(desk.filed) == 1  # another kind of application is not a move out


async def test_a_move_out_filed_again_for_one_application_has_its_event_id() -> None:
    """The event id is the application's own: received again, the desk finds the event it
    filed (and finishes it or does nothing), never a second move out under another id."""
    desk = _Desk()
    other = str(uuid.uuid4())
    for app in (APP, APP, other):
        await MovedOut(_Node(), desk)(app, "T1", "moving", MOVING)  # type: ignore[arg-type]
    first, again, third = desk.ids
    assert first == again == event_for("chiyoda-resident", APP)
    assert third != first
    assert event_for("chiyoda-resident", APP) != event_for("shinjuku-resident", APP)


@pytest.mark.parametrize(
    ("form", "fails", "refused", "code"),
    [
        ({"moving_date": "20.12.2026"}, None, True, "office.bad_application"),
        ({"moving_date": "x" * 10_000}, None, True, "office.bad_application"),
        ({}, None, True, "office.bad_application"),
        (MOVING, "register.out_of_order", True, "office.move_out_refused"),
        (MOVING, "register.not_on_register", True, "office.move_out_refused"),
        (MOVING, "register.bad_filing", True, "office.move_out_refused"),
        (MOVING, "register.unconfirmed", False, "office.move_out_unsent"),
    ],
    ids=["bad-date", "oversized", "no-date", "out-of-order", "not-ours", "bad-to", "unconfirmed"],
)
async def test_a_move_out_the_desk_refuses_is_refused_one_it_could_not_confirm_is_not(
    form: dict[str, str], fails: str | None, refused: bool, code: str
) -> None:
    desk = _Desk(fails)
    with pytest.raises(OfficeError) as got:
        await MovedOut(_Node(), desk)(APP, "T1", "moving", form)  # type: ignore[arg-type]
    assert got.value.code == code
    assert isinstance(got.value, ApplicationRefused) is refused


async def test_without_jlis_in_its_process_the_register_files_no_move_out_by_halves() -> None:
    with pytest.raises(OfficeError) as got:
        await MovedOut(_Node(), None)(APP, "T1", "moving", MOVING)  # type: ignore[arg-type]
    assert got.value.code == "office.move_out_unsent" and "J-LIS" in str(got.value)


# ---- a household change: the others' 続柄 to a new head (regrouped) -------------------------

FAMILY = {"H1": {"head": "R1", "members": ["R1", "R2", "R3"]}, "H2": None}


def test_a_new_head_in_the_household_gives_every_other_member_a_new_relationship() -> None:
    wife = {**RESIDENT, "relationship": "妻"}  # R2 becomes the head of H1
    f = filing("household", household="H1", head="1", relationships="R1=夫,R3=子")
    f = Filing(f.kind, "R2", f.effective, f.event_id, f.fields)
    moved, related = regrouped(f, wife, {"H1": FAMILY["H1"]})
    assert moved["H1"] == {"head": "R2", "members": ["R1", "R2", "R3"]}
    assert related == {"R1": "夫", "R3": "子"}


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({}, "the head changes for R1, R3: give each their 続柄"),
        ({"relationships": "R1=夫"}, "the head changes for R3"),
        ({"relationships": "R1=夫,R3=子,R9=子"}, "names R9, whose head does not change"),
        ({"relationships": "R1=世帯主,R3=子"}, "no other member of it is 世帯主"),
    ],
    ids=["none", "one-missing", "a-stranger", "two-heads"],
)
def test_a_new_head_without_the_others_relationships_is_refused(
    fields: dict[str, str], said: str
) -> None:
    f = filing("household", household="H1", head="1", **fields)
    f = Filing(f.kind, "R2", f.effective, f.event_id, f.fields)
    with pytest.raises(OfficeError) as got:
        regrouped(f, {**RESIDENT, "relationship": "妻"}, {"H1": FAMILY["H1"]})
    assert got.value.code == "register.bad_filing" and said in str(got.value)


def test_a_head_who_leaves_names_who_heads_those_left_behind() -> None:
    f = filing("household", household="H2", head="1", relationships="R2=世帯主,R3=子")
    moved, related = regrouped(f, RESIDENT, FAMILY)  # R1 heads H1 and leaves for H2
    assert moved["H1"] == {"head": "R2", "members": ["R2", "R3"]}
    assert moved["H2"] == {"head": "R1", "members": ["R1"]}
    assert related == {"R2": "世帯主", "R3": "子"}
    for bad in ("R2=子,R3=子", "R2=世帯主,R3=世帯主"):
        g = filing("household", household="H2", head="1", relationships=bad)
        with pytest.raises(OfficeError, match="name its new head among R2, R3"):
            regrouped(g, RESIDENT, FAMILY)


def test_a_member_joining_changes_no_one_elses_relationship() -> None:
    f = filing("household", household="H1", relationship="子")
    f = Filing(f.kind, "R4", f.effective, f.event_id, f.fields)
    moved, related = regrouped(f, {**RESIDENT, "household": "H5"}, {"H1": FAMILY["H1"]})
    assert moved["H1"]["members"] == ["R1", "R2", "R3", "R4"] and related == {}
    g = filing("household", household="H1", relationship="子", relationships="R2=妻")
    g = Filing(g.kind, "R4", g.effective, g.event_id, g.fields)
    with pytest.raises(OfficeError, match="whose head does not change"):
        regrouped(g, {**RESIDENT, "household": "H5"}, {"H1": FAMILY["H1"]})
    with pytest.raises(OfficeError) as none:  # no such household, and not its head
        regrouped(filing("household", household="H7", relationship="子"), RESIDENT, {"H7": None})
    assert none.value.code == "register.not_on_register"


@pytest.mark.parametrize(
    "text",
    ["R2", "R2=", "=妻", "R2=妻,,R3=子", "R 2=妻", "R2=妻=夫", "R2=妻,R2=子", "R2=" + "長" * 21],
)
def test_malformed_relationships_are_refused(text: str) -> None:
    with pytest.raises(OfficeError) as got:
        parse("household", "R1", ON, {"household": "H1", "head": "1", "relationships": text})
    assert got.value.code == "register.bad_filing"


def test_relationships_belong_to_a_household_change_and_have_a_size() -> None:
    with pytest.raises(OfficeError, match="only a household change"):
        parse("name", "R1", ON, {"name": "x", "relationships": "R2=妻"})
    many = ",".join(f"R{i}=子" for i in range(400))  # over 2,000 characters
    with pytest.raises(OfficeError, match="at most 2000"):
        parse("household", "R1", ON, {"household": "H1", "head": "1", "relationships": many})
