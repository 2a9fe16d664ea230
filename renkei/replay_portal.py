"""The portal's part of a season replay: residents with cards, their logins and applications.

On the embedded network (on the real one the portal process is replayed over HTTP,
``renkei/replay_web.py``, or those streams are left out: ``loadtest.season.CARD_KINDS``); the
receipts, decisions and お知らせ are read here for both. The replayer runs a CA of its own,
served on a loopback port for its CRLs and OCSP as ``renkei demo --portal`` does, handed to
J-LIS's certification office (``jlis-pki``) and to the offices that check signatures. Each
resident a login or application stream needs gets a card: an authentication and a signature
certificate under J-LIS's token for them (``holder_for``), the four facts from their register's
record, one EC key for both (the card's keys are its own; one key here is enough to sign). A
resident under 15 gets no signature certificate (the JPKI rule, ``pki.ca.validity``): they log
in, and file nothing.

The portal is driven through its own in-process API — the ``Backend`` its web pages call
(``PortalOffice``), not HTTP (the embedded replay serves no pages): a **login** is what
``POST /login/complete`` does once the challenge checks out — the certificate checked
(``PkiLoginCheck``: chain, policy, validity, OCSP), J-LIS naming the holder (``identify``), the
register their name (at most ``NAME_WAIT``) — then やりとり履歴 (``history``) and お知らせ
(``notices``); the challenge, the session and CSRF (pure, in the web layer) are not in the loop.
An **application** is signed with the card (``build_document``, ``sign_document``) and
submitted (``submit``): J-LIS names the signer, the hub says where, the office takes it — and
processes it, where it does (a 児童手当 認定請求: ``agencies/municipality/child_claims.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agencies.applications import COLLECTION
from agencies.municipality.child_claims import CLAIMS
from loadtest.accounting import ACCEPTED, MISNAMED, REFUSED, UNANSWERED, Ledger
from loadtest.exceptions import (
    REPLAY_APPLICATION_REFUSED,
    REPLAY_APPLICATION_UNANSWERED,
    REPLAY_LOGIN_MISNAMED,
    REPLAY_LOGIN_REFUSED,
    REPLAY_LOGIN_UNANSWERED,
    REPLAY_PAGE_UNAVAILABLE,
)
from loadtest.stats import Outcome
from pki import (
    CertificationAuthority,
    CertKind,
    Locality,
    ResidentFacts,
    RevocationChecker,
    RevocationSource,
    Sex,
    sign_document,
)
from pki import create_app as create_pki_app
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from pki.exceptions import PolicyRefused
from portal.exceptions import LoginRefused, Unavailable
from portal.forms import build_document
from portal.login import NAME_WAIT
from portal.office import PortalOffice
from renkei.pki_checks import PkiLoginCheck, PkiSignatureCheck, local_ca

__all__ = [
    "PROCESSED",
    "Card",
    "Cards",
    "application_facts",
    "apply",
    "close_cards",
    "log_in",
    "open_cards",
]

# the kinds of application an office processes after filing, and where it keeps the claim
PROCESSED = {"child_allowance": CLAIMS}
WHERE = Locality("Tokyo-to", "Chiyoda-ku")  # the card's issuing locality (a model)


@dataclass(frozen=True, slots=True)
class Card:
    person: str  # the portal's token for the holder (what a login must name)
    auth: bytes  # the authentication certificate, DER
    sign: x509.Certificate | None  # None: under 15, none issued
    key: ec.EllipticCurvePrivateKey


@dataclass
class Cards:
    """The replay's CA, served on a loopback port, and the checks that use it."""

    ca: CertificationAuthority
    login: PkiLoginCheck  # the portal's: OCSP, as a registered verifier
    signatures: PkiSignatureCheck  # the offices': the public CRLs
    revocation: RevocationChecker
    runner: web.AppRunner

    def listeners(self) -> dict[str, CaListener]:
        return {PKI_OFFICE: CaListener(self.ca)}

    def issue(self, person: str, pki_token: str, record: Mapping[str, Any]) -> Card:
        """A card for the resident of ``record`` (the register's), known to J-LIS by
        ``pki_token``; ``person`` the portal's token for them."""
        facts = ResidentFacts(
            name=str(record["name"]),
            address=str(record["address"]),
            birth_date=dt.date.fromisoformat(str(record["birth_date"])),
            sex=Sex(str(record["sex"])),
        )
        key = ec.generate_private_key(ec.SECP256R1())
        holder, code = holder_for(pki_token), _code(record)
        auth = self.ca.issue(CertKind.AUTHENTICATION, key.public_key(), holder, WHERE, code=code)
        try:
            sign = self.ca.issue(
                CertKind.SIGNATURE, key.public_key(), holder, WHERE, facts, code=code
            ).certificate
        except PolicyRefused:  # under 15
            sign = None
        der = auth.certificate.public_bytes(serialization.Encoding.DER)
        return Card(person, der, sign, key)


def _code(record: Mapping[str, Any]) -> str | None:
    """The register's 住民票コード of the resident, as the issuance application gives it."""
    code = record.get("rrc")
    return code if isinstance(code, str) else None


async def open_cards() -> Cards:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    local = local_ca(f"http://127.0.0.1:{sock.getsockname()[1]}")
    runner = web.AppRunner(create_pki_app(local.ca), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    revocation = RevocationChecker()  # one HTTP session, CRLs and OCSP answers kept
    await revocation.__aenter__()
    return Cards(
        local.ca,
        PkiLoginCheck(local.trust, local.ocsp, revocation),
        PkiSignatureCheck(local.trust, RevocationSource(), checker=revocation),
        revocation,
        runner,
    )


async def close_cards(cards: Cards) -> None:
    await cards.revocation.__aexit__(None, None, None)
    await cards.runner.cleanup()


async def log_in(cards: Cards, portal: PortalOffice, card: Card) -> tuple[str, Outcome]:
    """A login and the two pages a resident reads after it: (what the login was for the loss
    check — accepted, refused, unanswered, misnamed —, the outcome of the whole visit)."""
    try:
        checked = await cards.login.check(card.auth, dt.datetime.now(dt.UTC))
        person = await portal.identify(checked)
    except LoginRefused:
        return REFUSED, Outcome("refused", REPLAY_LOGIN_REFUSED)
    except Unavailable:
        return UNANSWERED, Outcome("timed_out", REPLAY_LOGIN_UNANSWERED)
    if person != card.person:
        return MISNAMED, Outcome("error", REPLAY_LOGIN_MISNAMED)
    with contextlib.suppress(Unavailable, TimeoutError):
        async with asyncio.timeout(NAME_WAIT):  # as the login does: a greeting, not a must
            await portal.resident_name(person)
    try:
        await portal.history(person)
        await portal.notices(person)
    except Unavailable:
        return ACCEPTED, Outcome("error", REPLAY_PAGE_UNAVAILABLE)
    return ACCEPTED, Outcome("ok")


async def apply(
    portal: PortalOffice, card: Card, kind: Any, form: Mapping[str, str], app_id: uuid.UUID
) -> tuple[str, Outcome]:
    """A signed application filed in the portal: (accepted, refused or unanswered; its
    outcome, a refusal under the code the office or the portal gave)."""
    assert card.sign is not None, "a resident with no signature certificate files nothing"
    document = build_document(kind, form, app_id, dt.datetime.now(dt.UTC))
    signed = sign_document(document, card.sign, card.key)
    try:
        status = await portal.submit(card.person, kind, dict(form), signed)
    except Unavailable:
        return UNANSWERED, Outcome("timed_out", REPLAY_APPLICATION_UNANSWERED)
    status = await portal.settled(card.person, status)  # a first send timed out: sent again
    if status.status == "unavailable":
        return UNANSWERED, Outcome("timed_out", REPLAY_APPLICATION_UNANSWERED)
    if status.status == "accepted":
        return ACCEPTED, Outcome("ok")
    code = status.detail.split(":", 1)[0] if ":" in status.detail else REPLAY_APPLICATION_REFUSED
    return REFUSED, Outcome("refused", code)


async def application_facts(
    ledger: Ledger,
    filed: Mapping[str, tuple[str, str]],
    store_of: Callable[[str], Any],
    takers: Mapping[str, Sequence[str]],
    notice_ids: Callable[[str], Awaitable[Sequence[uuid.UUID]]],
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(receipts, decisions, notices) by application id, read from the stores of the offices
    that take each kind (``takers``; ``store_of`` an office's store) and the ids of the
    お知らせ the portal keeps for a resident (``notice_ids``). ``filed``: id → (kind, the
    portal's token for the resident)."""
    receipts: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    notices: Counter[str] = Counter()
    for app_id, (kind, person) in filed.items():
        for office in takers.get(kind, ()):
            store = store_of(office)
            if await store.get(COLLECTION, app_id) is not None:
                receipts[app_id] += 1
            if app_id not in ledger.processed or kind not in PROCESSED:
                continue
            claim = await store.get(PROCESSED[kind], app_id)
            if claim is not None and claim.get("decision") is not None:
                decisions[app_id] += 1
            ref = uuid.uuid5(uuid.NAMESPACE_URL, f"renkei:notice/{office}/{app_id}")
            notices[app_id] += sum(1 for n in await notice_ids(person) if n == ref)
    return receipts, decisions, notices
