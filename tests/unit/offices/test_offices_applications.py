"""An office taking electronic applications (``SignedApplications``), with a fake signature
check: what it accepts, what it refuses and why, and that a redelivery never acts twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from agencies.applications import COLLECTION, SignedApplications, Signer, same_name
from hub.node import ApplicationRefused, MemoryStore

TOKEN = "T" * 43
HANAKO = {"name": "番号 花子", "birth_date": "1985-04-02"}


class FakeCheck:
    """Takes the 'signed' bytes to be the document itself, signed by ``signer``."""

    def __init__(self, signer: Mapping[str, str] = HANAKO, refuse: str = "") -> None:
        self.signer, self.refuse = signer, refuse

    async def check(self, signed: bytes) -> Signer:
        if self.refuse:
            raise ApplicationRefused("nta.signature_invalid", self.refuse)
        return Signer(
            self.signer["name"], self.signer["birth_date"], signed, dt.datetime.now(dt.UTC)
        )

    def content(self, signed: bytes) -> bytes | None:
        return signed


def application(kind: str = "moving", **form: str) -> bytes:
    doc = {"kind": kind, "application_id": str(uuid.uuid4()), "form": form or {"a": "b"}}
    return orjson.dumps(doc)


async def register(
    then: Any = None, check: FakeCheck | None = None, resident: Mapping[str, str] = HANAKO
) -> SignedApplications:
    store = MemoryStore()
    await store.put_many("residents", [("r1", TOKEN, dict(resident))])
    return SignedApplications("chiyoda-resident", store, check or FakeCheck(), then, register=True)


async def test_a_good_application_is_receipted_and_kept() -> None:
    office = await register()
    receipt = await office.receive(TOKEN, "moving", application())
    assert receipt["office"] == "chiyoda-resident"
    assert str(receipt["receipt"]).startswith("chiyoda-resident-")
    assert len(await office.store.keys(COLLECTION)) == 1


async def test_the_same_application_twice_gets_the_same_receipt_and_acts_once() -> None:
    """A redelivered copy (the office stopped between keeping it and replying) or the portal
    filing it again: the receipt kept for it, not "filed already" — it was filed."""
    acted: list[str] = []

    async def then(app_id: str, person: str, kind: str, form: Mapping[str, Any]) -> None:
        await asyncio.sleep(0.01)  # the second delivery arrives meanwhile
        acted.append(app_id)

    office = await register(then)
    doc = application()
    first, again = await asyncio.gather(
        office.receive(TOKEN, "moving", doc), office.receive(TOKEN, "moving", doc)
    )
    assert first == again
    assert acted == [str(orjson.loads(doc)["application_id"])]
    assert len(await office.store.keys(COLLECTION)) == 1


@pytest.mark.parametrize("what", ["another document", "another person", "another kind"])
async def test_anything_else_under_a_filed_applications_id_is_a_duplicate(what: str) -> None:
    office = await register()
    office.register = False  # any person's, so that the person can differ
    doc = application()
    await office.receive(TOKEN, "moving", doc)
    parsed = orjson.loads(doc)
    person, kind = TOKEN, "moving"
    if what == "another document":
        doc = orjson.dumps({**parsed, "form": {"a": "c"}})
    elif what == "another person":
        person = "U" * 43
    else:
        kind = "tax_return"
        doc = orjson.dumps({**parsed, "kind": kind})
    with pytest.raises(ApplicationRefused) as refused:
        await office.receive(person, kind, doc)
    assert refused.value.code == "chiyoda_resident.duplicate"


@pytest.mark.parametrize(
    ("person", "check", "doc", "code"),
    [
        ("U" * 43, FakeCheck(), application(), "chiyoda_resident.not_our_resident"),
        (
            TOKEN,
            FakeCheck({"name": "別人", "birth_date": "1985-04-02"}),
            application(),
            "chiyoda_resident.signer_mismatch",
        ),
        (TOKEN, FakeCheck(refuse="revoked"), application(), "nta.signature_invalid"),
        (TOKEN, FakeCheck(), application("tax_return"), "chiyoda_resident.not_an_application"),
        (TOKEN, FakeCheck(), b"not json", "chiyoda_resident.not_an_application"),
        (
            TOKEN,
            FakeCheck(),
            orjson.dumps({"kind": "moving", "application_id": "x"}),
            "chiyoda_resident.not_an_application",
        ),
        (
            TOKEN,
            FakeCheck(),
            orjson.dumps({"kind": "moving", "application_id": str(uuid.uuid4()), "form": []}),
            "chiyoda_resident.not_an_application",
        ),
    ],
    # fixed ids: a random one would differ between pytest-xdist workers
    ids=["not-ours", "signer", "revoked", "wrong-kind", "not-json", "bad-id", "form-a-list"],
)
async def test_refusals_say_why_and_keep_nothing(
    person: str, check: FakeCheck, doc: bytes, code: str
) -> None:
    office = await register(check=check)
    with pytest.raises(ApplicationRefused) as refused:
        await office.receive(person, "moving", doc)
    assert refused.value.code == code
    assert await office.store.keys(COLLECTION) == []


async def test_what_the_office_does_with_it_can_refuse_it() -> None:
    async def then(app_id: str, person: str, kind: str, form: Mapping[str, Any]) -> None:
        raise ApplicationRefused("office.bad_application", "no moving date")

    office = await register(then)
    with pytest.raises(ApplicationRefused, match="no moving date"):
        await office.receive(TOKEN, "moving", application())
    assert await office.store.keys(COLLECTION) == []


async def test_an_office_without_a_register_takes_anyones_signed_application() -> None:
    office = SignedApplications("nta", MemoryStore(), FakeCheck())
    receipt = await office.receive("U" * 43, "tax_return", application("tax_return"))
    assert receipt["signer"] == "番号 花子"


# ---- names: compared as the same name, kept as written ------------------------------------

KAMI_COMPAT, KAMI = "\ufa19", "\u795e"  # 神: a CJK compatibility ideograph and its unified form
KATSU_IVS = "\u845b\U000e0100"  # 葛󠄀: an ideographic variation sequence of 葛 U+845B


@pytest.mark.parametrize(
    ("registered", "signed"),
    [
        (f"{KAMI_COMPAT}田 太郎", f"{KAMI}田 太郎"),
        (f"{KAMI}田 太郎", f"{KAMI_COMPAT}田 太郎"),
        (f"{KAMI}\ufe00田 太郎", f"{KAMI_COMPAT}田 太郎"),  # the standardized variant of 神
        (f"{KATSU_IVS}西 次郎", "葛西 次郎"),
        ("髙橋 一郎", "髙橋 一郎"),
        ("山\ufa11 花子", "山\ufa11 花子"),
    ],
    ids=["compat-registered", "compat-signed", "svs", "ivs", "taka", "saki"],
)
async def test_a_name_written_with_another_form_of_the_same_character_is_the_signer(
    registered: str, signed: str
) -> None:
    resident = {"name": registered, "birth_date": "1985-04-02"}
    signer = {"name": signed, "birth_date": "1985-04-02"}
    office = await register(check=FakeCheck(signer), resident=resident)
    receipt = await office.receive(TOKEN, "moving", application())
    assert receipt["signer"] == signed  # kept as the certificate has it
    found = await office.store.by_token("residents", TOKEN)
    assert found is not None and found[1]["name"] == registered  # the register's untouched


@pytest.mark.parametrize(
    ("registered", "signed"),
    [
        ("髙橋 一郎", "高橋 一郎"),
        ("山\ufa11 花子", "山崎 花子"),
        ("葛西 次郎", "葛城 次郎"),
    ],
    ids=["taka-is-not-taka", "saki-is-not-saki", "another-name"],
)
async def test_a_different_character_is_a_different_name(registered: str, signed: str) -> None:
    resident = {"name": registered, "birth_date": "1985-04-02"}
    office = await register(
        check=FakeCheck({"name": signed, "birth_date": "1985-04-02"}), resident=resident
    )
    with pytest.raises(ApplicationRefused) as refused:
        await office.receive(TOKEN, "moving", application())
    assert refused.value.code == "chiyoda_resident.signer_mismatch"


def test_same_name_ignores_only_the_form_of_a_character() -> None:
    assert same_name(f"{KAMI_COMPAT}田", f"{KAMI}田")
    assert same_name(f"{KATSU_IVS}西", "\u845b\U000e0101西")  # another glyph of 葛
    assert not same_name("髙", "高")
    assert not same_name("\ufa11", "崎")
