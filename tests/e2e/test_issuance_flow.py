"""コンビニ交付 over the network: the issuance centre authenticates the card's user certificate
(signature over its challenge, OCSP at the CA, J-LIS names the holder), then asks the hub for a
certificate; the municipality that holds the resident answers or refuses with its reason, and
every access is recorded and shown in the resident's やりとり履歴 — on both backends."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from e2e_env import IDS, Env
from portal_env import FACTS, PORTAL, REGISTER, WHERE, Pki, der, login

from agencies.jlis.registry import Jlis
from agencies.municipality.register_desk import RegisterDesk, parse
from hub.numbers import resident_record_code
from hub.routing.exceptions import HUB_NOT_A_PORTAL
from hub.wire import HUB, Facts
from issuance import IssuanceCentre, IssuanceRefused, order
from issuance.api import create_api
from issuance.exceptions import ISSUANCE_BAD_RESPONSE, ISSUANCE_CARD_REFUSED, ISSUANCE_CLOSED
from issuance.seal import Seal, SealAuthority
from issuance.verify import verify_pdf
from pki import CaName, CertKind
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from renkei.network import Network
from renkei.pki_checks import PkiCardCheck, PkiLoginCheck, PkiSignatureCheck

CENTRE, TAX, CHILD = "jlis-kofu", "chiyoda-tax", "chiyoda-child"
NOON = dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)  # 12:00 JST
NIGHT = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC)  # 0:00 JST
SEALS = SealAuthority.generate()  # the municipal seals' root (LGPKI model)
PRINTING = {REGISTER: "東京都千代田区長", TAX: "東京都千代田区長（税務課）"}


def seals() -> dict[str, Seal]:
    return {code: SEALS.issue(name) for code, name in PRINTING.items()}


async def network(env: Env, pki: Pki) -> Network:
    """Every service; the resident register and the tax office print signed PDFs."""
    issued = seals()
    return await env.network(
        run=list(IDS),
        listeners={PKI_OFFICE: CaListener(pki.ca)},
        signatures=PkiSignatureCheck(pki.trust, pki.source),
        seals=lambda office: issued.get(office.code),
    )


@dataclasses.dataclass
class Card:
    number: str
    facts: Facts
    register_token: str
    auth: x509.Certificate
    key: rsa.RSAPrivateKey
    holder: str = ""  # the CA's holder reference


async def registered(net: Network, **record: object) -> tuple[str, Facts, str, str]:
    """A resident of 千代田区 (with a spouse, a registered seal and a tax record, unless told
    otherwise by ``record``): the number, the four facts, the register's token and the
    住民票コード."""
    jlis: Jlis = net.apps["jlis"]
    rrcs = [resident_record_code(f"{uuid.uuid4().int % 10**10:010d}") for _ in range(2)]
    household = "h-" + rrcs[0]
    base = {"address": FACTS.address, "household": household}
    mine = {
        **base,
        "rrc": rrcs[0],  # the 住民票コード: the card desk gives it to the CA
        "name": FACTS.name,
        "birth_date": "1980-05-05",
        "sex": "2",
        "relationship": "世帯主",
        "seal": {"number": "印0001", "registered": "2010-04-01"},
        **record,
    }
    theirs = {**base, "rrc": rrcs[1], "name": "番号 太郎", "birth_date": "1979-01-01", "sex": "1"}
    facts = {rrcs[0]: Facts.of(mine), rrcs[1]: Facts.of(theirs)}  # J-LIS's 本人確認情報
    numbers = await jlis.register(facts, municipality="131016")
    me, spouse = [await net.offices[REGISTER].enroll(numbers[r], facts[r]) for r in rrcs]
    mine["number"], theirs["number"] = numbers[rrcs[0]], numbers[rrcs[1]]  # as designated
    await net.stores[REGISTER].put_many(
        "residents",
        [(f"r-{rrcs[0]}", me, mine), (f"r-{rrcs[1]}", spouse, {**theirs, "relationship": "夫"})],
    )
    members = [f"r-{rrcs[0]}", f"r-{rrcs[1]}"]
    await net.stores[REGISTER].put_many(
        "households", [(household, None, {"head": members[0], "members": members})]
    )
    tax = await net.offices[TAX].enroll(numbers[rrcs[0]], facts[rrcs[0]])
    year = {"total_income": 4_200_000, "municipal_income_levy": 210_000}
    taxpayer = {"name": FACTS.name, "years": {"2026": year, "2025": year}, **record}
    await net.stores[TAX].put_many("taxpayers", [(f"t-{rrcs[0]}", tax, taxpayer)])
    return numbers[rrcs[0]], facts[rrcs[0]], me, rrcs[0]


async def carded(net: Network, pki: Pki, **record: object) -> Card:
    """A resident (``registered``) holding a card with an RSA user certificate, issued on the
    市町村長's application with the resident's 住民票コード (J-LIS's notices revoke by it)."""
    number, facts, me, rrc = await registered(net, **record)
    holder = holder_for(await net.offices[PKI_OFFICE].enroll(number, facts))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth = pki.ca.issue(CertKind.AUTHENTICATION, key.public_key(), holder, WHERE, code=rrc)
    return Card(number, facts, me, auth.certificate, key, holder)


def centre(net: Network, pki: Pki, at: dt.datetime = NOON) -> IssuanceCentre:
    c: IssuanceCentre = net.apps[CENTRE]
    c.check = PkiCardCheck(PkiLoginCheck(pki.trust, pki.login_source))
    c.clock = lambda: at  # the service hours' clock
    return c


def sign(card: Card, challenge: bytes) -> bytes:
    return card.key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())


async def person_of(c: IssuanceCentre, card: Card) -> str:
    challenge = c.challenge()
    return await c.authenticate(challenge, sign(card, challenge), der(card.auth))


async def test_each_certificate_is_issued_and_shown_in_the_residents_history(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    person = await person_of(c, card)
    whole = await c.issue(person, order("resident_certificate", {"household": "1"}, NOON))
    assert [m["name"] for m in whole.data["members"]] == [FACTS.name, "番号 太郎"]
    alone = await c.issue(person, order("resident_certificate", {}, NOON))
    assert [m["name"] for m in alone.data["members"]] == [FACTS.name]
    assert "number" not in str(alone.data)
    seal = await c.issue(person, order("seal_certificate", {}, NOON))
    assert seal.data["seal_number"] == "印0001"
    tax = await c.issue(person, order("tax_certificate", {"fiscal_year": "2025"}, NOON))
    assert (tax.data["fiscal_year"], tax.data["total_income"]) == (2025, 4_200_000)
    # the resident sees each access in やりとり履歴, under the centre's name
    portal = net.apps[PORTAL]
    mine = await login(
        dataclasses.replace(_portal_resident(card), portal=portal), pki
    )  # the same card at the portal
    history = (await portal.history(mine)).entries
    issued = {str(h.record_id): h.provider for h in history if h.affair == "convenience_issuance"}
    assert issued == {
        whole.record_id: REGISTER,
        alone.record_id: REGISTER,
        seal.record_id: REGISTER,
        tax.record_id: TAX,
    }
    assert any(h.requester == CENTRE and h.affair == "portal_login" for h in history)
    # each came as the municipality's signed PDF, which names what it certifies
    for issued, signer in ((whole, REGISTER), (seal, REGISTER), (tax, TAX)):
        assert issued.pdf is not None
        verified = await verify_pdf(issued.pdf, [SEALS.cert])
        assert verified.signer == PRINTING[signer]
        assert verified.data == dict(issued.data)


async def test_the_number_only_on_the_residents_choice_never_over_the_hub_in_clear(
    env: Env, pki: Pki
) -> None:
    """住民票の写し with the 個人番号: asked as its own item (row c04), recorded as such, the
    number only in the municipality's sealed answer and its signed PDF — not in the record."""
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    person = await person_of(c, card)
    plain = await c.issue(person, order("resident_certificate", {"household": "1"}, NOON))
    assert card.number not in str(plain.data) and "number" not in plain.data["members"][0]
    chosen = order("resident_certificate", {"household": "1", "number": "1"}, NOON)
    numbered = await c.issue(person, chosen)
    assert numbered.data["members"][0]["number"] == card.number
    assert len({m["number"] for m in numbered.data["members"]}) == 2  # each member's own
    assert numbered.pdf is not None
    verified = await verify_pdf(numbered.pdf, [SEALS.cert])
    assert verified.data == dict(numbered.data)
    assert net.records is not None
    hub_token = env.token(net.apps["jlis"].code_of(card.number), HUB)
    kept = {str(r.record_id): r for r in await net.records.for_person(hub_token)}
    assert tuple(kept[numbered.record_id].items) == ("resident_certificate_number",)
    assert tuple(kept[plain.record_id].items) == ("resident_certificate",)
    assert card.number not in repr(list(kept.values()))


def _portal_resident(card: Card):  # type: ignore[no-untyped-def]
    from portal_env import Resident

    return Resident(None, None, card.register_token, "", card.auth, card.auth, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "code", "words"),
    [
        ({"support_measure": True}, "municipality.support_measure", "支援措置"),
        ({"move_out": "2026-06-20"}, "municipality.move_out_pending", "転出"),
    ],
    ids=["dv-support", "move-out-pending"],
)
async def test_the_municipality_refuses_with_its_reason(
    env: Env, pki: Pki, record: dict[str, object], code: str, words: str
) -> None:
    net = await network(env, pki)
    card = await carded(net, pki, **record)
    c = centre(net, pki)
    person = await person_of(c, card)
    for kind, options in (
        ("resident_certificate", {}),
        ("seal_certificate", {}),
        ("tax_certificate", {"fiscal_year": "2026"}),
    ):
        with pytest.raises(IssuanceRefused) as refused:
            await c.issue(person, order(kind, options, NOON))
        assert refused.value.code == code, kind
        assert words in str(refused.value)


async def test_a_year_assessed_by_another_municipality_is_refused_and_recorded(
    env: Env, pki: Pki
) -> None:
    """The resident lived elsewhere on 1 January 2025: the tax office here assessed 2026 only.
    The centre asks the hub for the year chosen; the municipality of today refuses it with a
    reason saying who issues it, and the resident sees the refused access."""
    year = {"total_income": 3_000_000, "municipal_income_levy": 150_000}
    net = await network(env, pki)
    card = await carded(net, pki, years={"2026": year})
    c = centre(net, pki)
    person = await person_of(c, card)
    this = await c.issue(person, order("tax_certificate", {"fiscal_year": "2026"}, NOON))
    assert this.data["fiscal_year"] == 2026
    for asked in ("2025", "2023"):
        with pytest.raises(IssuanceRefused) as refused:
            await c.issue(person, order("tax_certificate", {"fiscal_year": asked}, NOON))
        assert refused.value.code == "municipality.tax_elsewhere"
        assert f"{asked}年1月1日にお住まいだった市区町村" in str(refused.value)
    with pytest.raises(IssuanceRefused) as refused:  # beyond the years offered: not asked
        await c.issue(person, order("tax_certificate", {"fiscal_year": "2022"}, NOON))
    assert refused.value.code == "issuance.bad_options"
    portal = net.apps[PORTAL]
    mine = await login(dataclasses.replace(_portal_resident(card), portal=portal), pki)
    tax = [h for h in (await portal.history(mine)).entries if h.affair == "convenience_issuance"]
    assert sorted(h.outcome for h in tax) == ["ok", "refused", "refused"]


async def test_a_move_out_the_register_received_as_an_event_refuses_too(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    card = await carded(net, pki)
    # 新宿区 files nothing here: the register itself reports the move out, dated ahead
    moved = await net.offices[REGISTER].report_change(
        card.register_token, "moved_out", dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10), {}
    )
    assert moved.status == "delivered"
    c = centre(net, pki)
    person = await person_of(c, card)
    with pytest.raises(IssuanceRefused) as refused:  # the tax office heard of it
        await c.issue(person, order("tax_certificate", {"fiscal_year": "2026"}, NOON))
    assert refused.value.code == "municipality.move_out_pending"


async def test_a_revoked_certificate_a_bad_signature_and_a_used_challenge_are_refused(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    challenge = c.challenge()
    with pytest.raises(IssuanceRefused) as bad:
        await c.authenticate(challenge, b"\x00" * 256, der(card.auth))
    assert bad.value.code == ISSUANCE_BAD_RESPONSE
    with pytest.raises(IssuanceRefused) as used:  # the challenge was spent by the failure
        await c.authenticate(challenge, sign(card, challenge), der(card.auth))
    assert used.value.code == ISSUANCE_BAD_RESPONSE
    with pytest.raises(IssuanceRefused) as foreign:  # one the centre never gave
        await c.authenticate(b"x" * 32, sign(card, b"x" * 32), der(card.auth))
    assert foreign.value.code == ISSUANCE_BAD_RESPONSE
    pki.ca.revoke(CaName.AUTHENTICATION, card.auth.serial_number, x509.ReasonFlags.key_compromise)
    with pytest.raises(IssuanceRefused) as revoked:
        await person_of(c, card)
    assert revoked.value.code == ISSUANCE_CARD_REFUSED
    assert "失効" in str(revoked.value)


async def test_a_death_filed_at_the_desk_revokes_the_card_by_its_code(env: Env, pki: Pki) -> None:
    """The card was issued with the resident's 住民票コード: the register's 死亡 reaches J-LIS
    over 住基ネット, J-LIS's 異動等失効情報 the CA, and the kiosk refuses the card."""
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    await person_of(c, card)  # good before
    assert not pki.ca.uncoded(card.holder)  # so only J-LIS's notice revokes it (pki/ca/office.py)
    found = await net.stores[REGISTER].by_token("residents", card.register_token)
    assert found is not None
    local = found[0]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    desk = RegisterDesk(net.offices[REGISTER], net.stores[REGISTER], net.juki[REGISTER], "131016")
    event = str(uuid.uuid4())
    await desk.file(parse("death", local, today, {}, event_id=event))
    async with asyncio.timeout(20):
        while pki.ca.status(CaName.AUTHENTICATION, card.auth.serial_number)[1] is None:  # noqa: ASYNC110 - the CA's consumer
            await asyncio.sleep(0.05)
    assert pki.ca.ledger.notice_applied(event)  # by J-LIS's notice, not the hub's event
    with pytest.raises(IssuanceRefused) as dead:
        await person_of(c, card)
    assert dead.value.code == ISSUANCE_CARD_REFUSED


async def test_outside_the_hours_nothing_is_asked(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    person = await person_of(c, card)
    c.clock = lambda: NIGHT
    with pytest.raises(IssuanceRefused) as closed:
        await c.issue(person, order("resident_certificate", {}, NIGHT))
    assert closed.value.code == ISSUANCE_CLOSED


async def test_a_dishonest_office_cannot_ask_for_certificates_and_is_recorded(
    env: Env, pki: Pki
) -> None:
    """Not the centre: an office of the same municipality asks under the centre's affair, for
    the certificate items, and tries to have J-LIS name a card holder."""
    net = await network(env, pki)
    card = await carded(net, pki)
    child = await net.offices[CHILD].enroll(card.number, card.facts)
    for provider, code in (
        (REGISTER, "routing.in_house"),  # its own ward's register: not over the network at all
        ("hub", "routing.no_provider"),
    ):
        answer = await net.offices[CHILD].ask(
            "convenience_issuance", provider, ("resident_certificate",), child
        )
        assert (answer.status, answer.code) == ("refused", code), answer.reason
    refused = await net.offices[CHILD].ask(
        "child_allowance", REGISTER, ("seal_certificate",), child
    )
    assert (refused.status, refused.code) == ("refused", "routing.in_house")
    with pytest.raises(Exception) as identify:  # noqa: PT011 - NotIdentified, with the hub's code
        await net.offices[CHILD].identify(der(card.auth))
    assert getattr(identify.value, "code", "") == HUB_NOT_A_PORTAL
    # each refusal is on the resident's record
    portal = net.apps[PORTAL]
    mine = await login(dataclasses.replace(_portal_resident(card), portal=portal), pki)
    history = (await portal.history(mine)).entries
    tried = [h for h in history if h.requester == CHILD and h.outcome == "refused"]
    assert len(tried) >= 3


async def test_the_centre_cannot_ask_about_another_resident_than_the_cards(
    env: Env, pki: Pki
) -> None:
    net = await network(env, pki)
    mine, other = await carded(net, pki), await carded(net, pki)
    c = centre(net, pki)
    await person_of(c, mine)
    # a token not the centre's (the register's own for another resident) is refused by the hub
    answer = await c.node.ask(
        "convenience_issuance", "hub", ("resident_certificate",), other.register_token
    )
    assert answer.status == "refused"
    assert answer.code.startswith("token.")


async def test_a_kiosk_over_http_gets_the_signed_pdf(env: Env, pki: Pki) -> None:
    """The kiosk's side of the 専用回線: challenge, the card's signature, the order → the PDF."""
    net = await network(env, pki)
    card = await carded(net, pki)
    c = centre(net, pki)
    client = TestClient(TestServer(create_api(c), host="127.0.0.1"))
    await client.start_server()
    try:
        got = await client.post("/v1/challenge")
        text = (await got.json())["challenge"]
        challenge = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = {
            "challenge": text,
            "signature": base64.urlsafe_b64encode(sign(card, challenge)).decode(),
            "certificate": base64.urlsafe_b64encode(der(card.auth)).decode(),
            "kind": "resident_certificate",
            "options": {"household": "1"},
        }
        printed = await client.post("/v1/certificates", json=body)
        assert printed.status == 200, await printed.text()
        assert printed.headers["X-Fee"] == "200"
        pdf = await printed.read()
    finally:
        await client.close()
    verified = await verify_pdf(pdf, [SEALS.cert])
    assert [m["name"] for m in verified.data["members"]] == [FACTS.name, "番号 太郎"]
