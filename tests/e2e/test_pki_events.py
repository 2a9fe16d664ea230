"""Revocation follows J-LIS: the CA hears of moves and deaths as J-LIS's 異動等失効情報 over
住基ネット (by the 住民票コード given at issuance), not from the hub's change events."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from cryptography.hazmat.primitives.asymmetric import ec
from e2e_env import ON_RECORD, Env
from portal_env import FACTS, WHERE
from test_changes import arrived

from agencies.jlis.registry import Jlis
from hub.numbers import resident_record_code
from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
)
from pki.ca.office import PKI_OFFICE, CaListener, holder_for

REGISTER = "chiyoda-resident"


async def revoked(ca: CertificationAuthority, ca_name: CaName, serial: int) -> bool:
    """Wait (up to 5 s) until the CA has revoked the certificate."""
    async with asyncio.timeout(5):
        while True:
            if ca.status(ca_name, serial)[1] is not None:
                return True
            await asyncio.sleep(0.02)


async def test_a_move_revokes_the_signature_certificate_and_a_death_both(env: Env) -> None:
    now = dt.datetime.now(dt.UTC)
    ca = CertificationAuthority(
        Hierarchy.generate(now - dt.timedelta(days=2)),
        holder_key=b"h" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )
    net = await env.network(run=None, listeners={PKI_OFFICE: CaListener(ca)})
    jlis: Jlis = net.apps["jlis"]
    rrc = resident_record_code(f"{uuid.uuid4().int % 10**10:010d}")
    number = (await jlis.register({rrc: ON_RECORD}, municipality="131016"))[rrc]
    register_token = await net.offices[REGISTER].enroll(number, ON_RECORD)
    pki_token = await net.offices[PKI_OFFICE].enroll(number, ON_RECORD)  # the desk, at issuance
    holder = holder_for(pki_token)
    issued = now - dt.timedelta(days=1)
    key = ec.generate_private_key(ec.SECP256R1())
    sig = ca.issue(
        CertKind.SIGNATURE, key.public_key(), holder, WHERE, FACTS, code=rrc, not_before=issued
    )
    auth = ca.issue(
        CertKind.AUTHENTICATION, key.public_key(), holder, WHERE, code=rrc, not_before=issued
    )
    today = now.date()
    # a change event on the hub, even from the register that holds the person: revokes nothing
    await net.offices[REGISTER].report_change(
        register_token, "moved_out", today + dt.timedelta(days=1), {"to_municipality": "131041"}
    )
    await arrived(net, PKI_OFFICE, pki_token, "moved_out")
    assert ca.status(CaName.SIGNATURE, sig.serial)[1] is None
    link = net.juki[REGISTER]  # the register's 既存住基, noting J-LIS (a 転出 filed ahead)
    await link.noted(rrc, ON_RECORD, municipality="131016", reason="転出", event=str(uuid.uuid4()))
    assert await revoked(ca, CaName.SIGNATURE, sig.serial)
    assert ca.status(CaName.AUTHENTICATION, auth.serial)[1] is None  # a move keeps the login key
    await link.noted(rrc, ON_RECORD, municipality="131016", reason="死亡", event=str(uuid.uuid4()))
    assert await revoked(ca, CaName.AUTHENTICATION, auth.serial)
