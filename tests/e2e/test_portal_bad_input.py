"""Bad input on the portal's paths through the hub: each a clear refusal and a record, or a
dead letter — never a token, a record or a document where none is due."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import Env, envelope
from portal_env import (
    CHILD,
    PORTAL,
    REGISTER,
    WHERE,
    Pki,
    application,
    der,
    login,
    network,
    resident,
)

from hub.wire import HUB, Identify, encode, seal
from pki import CertificationAuthority, CertKind, Endpoints, Hierarchy
from portal.exceptions import LoginRefused
from portal.model import CheckedCertificate


async def test_only_the_portal_may_identify_card_holders(env: Env, pki: Pki) -> None:
    net = await network(env, pki, without=CHILD)
    r = await resident(net, pki)
    child = await env.raw(net, CHILD)
    cert = seal(der(r.auth), env.state.public["jlis-pki"].seal)
    await child.send(
        encode(Identify(envelope=envelope(CHILD, "jlis-pki", "portal_login"), certificate=cert)),
        key="identify",
    )
    reply = await child.reply()
    assert (reply.outcome.status, reply.outcome.code) == ("refused", "hub.not_a_portal")  # type: ignore[union-attr]


async def test_identify_goes_to_jlis_pki_only(env: Env, pki: Pki) -> None:
    net = await network(env, pki, without=PORTAL)
    r = await resident(net, pki)
    portal = await env.raw(net, PORTAL)
    cert = seal(der(r.auth), env.state.public[REGISTER].seal)
    await portal.send(
        encode(Identify(envelope=envelope(PORTAL, REGISTER, "portal_login"), certificate=cert)),
        key="identify",
    )
    reply = await portal.reply()
    assert reply.outcome.code == "hub.bad_identify"  # type: ignore[union-attr]


async def test_garbage_and_unknown_certificates_log_nobody_in(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    portal = r.portal
    never = CheckedCertificate(b"not a certificate", 1, dt.datetime.now(dt.UTC))
    with pytest.raises(LoginRefused, match=r"jlis\.bad_certificate"):
        await portal.identify(never)
    # a certificate J-LIS never issued (another CA's, same names)
    other = CertificationAuthority(
        Hierarchy.generate(dt.datetime.now(dt.UTC) - dt.timedelta(days=1)),
        holder_key=b"x" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )
    key = ec.generate_private_key(ec.SECP256R1())
    foreign = other.issue(CertKind.AUTHENTICATION, key.public_key(), "card-x", WHERE).certificate
    wrong = CheckedCertificate(der(foreign), 1, dt.datetime.now(dt.UTC))
    with pytest.raises(LoginRefused, match="not_found"):
        await portal.identify(wrong)
    # a certificate of J-LIS issued to a desk reference that is no person's token
    linkless = pki.ca.issue(CertKind.AUTHENTICATION, key.public_key(), "card-y", WHERE)
    nobody = CheckedCertificate(der(linkless.certificate), 1, r.auth.not_valid_after_utc)
    with pytest.raises(LoginRefused, match="not_found"):
        await portal.identify(nobody)


async def test_only_the_portal_files_documents(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    form = {"fiscal_year": "2025", "income": "1", "deductions": "0"}
    answer = await net.offices[CHILD].ask(
        "child_allowance",
        REGISTER,
        ("resident_record",),
        r.child_token,
        document=application(r, "tax_return", form),
    )
    assert (answer.status, answer.code) == ("refused", "hub.unexpected_document")


async def test_the_portal_is_held_to_the_portal_rules(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r = await resident(net, pki)
    person = await login(r, pki)
    node = net.offices[PORTAL]
    # a 別表 affair is not the portal's
    refused = await node.ask("child_allowance", REGISTER, ("resident_record",), person)
    assert (refused.status, refused.code) == ("refused", "routing.affair_not_performed")
    # self-information only for the items the office holds
    wrong = await node.ask("self_information", REGISTER, ("local_tax",), person)
    assert (wrong.status, wrong.code) == ("refused", "routing.item_not_held")
    # an application the office does not take, or one with no signed document
    form = {"fiscal_year": "2025", "income": "1", "deductions": "0"}
    signed = application(r, "tax_return", form)
    nowhere = await node.ask("application", REGISTER, ("tax_return",), person, document=signed)
    assert (nowhere.status, nowhere.code) == ("refused", "routing.no_row")
    unsigned = await node.ask("application", "nta", ("tax_return",), person)
    assert (unsigned.status, unsigned.code) == ("refused", "routing.no_row")
    # a disclosure is asked of the hub, for access records only
    elsewhere = await node.ask("disclosure", REGISTER, ("access_records",), person)
    assert elsewhere.code == "routing.no_row"
    # every refusal is on the resident's record, as the law wants
    refusals = [h for h in (await r.portal.history(person)).entries if h.outcome == "refused"]
    assert len(refusals) == 5


async def test_a_resident_cannot_check_another_residents_record(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    r, other = await resident(net, pki), await resident(net, pki)
    mine, theirs = await login(r, pki), await login(other, pki)
    answer = await net.offices[CHILD].ask(
        "child_allowance", REGISTER, ("resident_record",), other.child_token
    )
    assert answer.record_id is not None
    assert await r.portal.verify_record(theirs, answer.record_id)
    assert await r.portal.verify_record(mine, answer.record_id) is None
    assert answer.record_id not in {h.record_id for h in (await r.portal.history(mine)).entries}


async def test_a_forged_portal_token_gets_nothing(env: Env, pki: Pki) -> None:
    net = await network(env, pki)
    await resident(net, pki)
    answer = await net.offices[PORTAL].ask("disclosure", HUB, ("access_records",), "A" * 43)
    assert answer.status == "refused"
    assert answer.code.startswith("token.")
