"""J-LIS's link from a certificate it issued to the holder's token (``pki/ca/office.py``) when
PostgreSQL cuts the session writing it (as a restart of PostgreSQL does): the link is written
again until it is, each failure logged, and a login with the certificate finds its resident.
Before: the link was written once, in a task whose failure nobody read, and was lost for good —
that card's every login got "the certificate is linked to no resident"."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import load_der_x509_certificate, load_pem_x509_certificate
from pg_env import fresh_pool, writes_held
from structlog.testing import capture_logs

from card_service import HttpCa, IssuanceError
from card_service.desk.ca_http import _pause
from hub.node import MemoryStore, PgStore, schema_for
from hub.wire import Identified
from pki import CertificationAuthority, CertKind, Endpoints, Hierarchy, Issued, Locality
from pki.ca.ledger import Ledger
from pki.ca.office import PKI_OFFICE, CaListener, holder_for
from pki.ca.server import create_app

pytestmark = pytest.mark.postgres
WHERE = Locality("Tokyo-to", "Chiyoda-ku")
DER = serialization.Encoding.DER
TOKEN = "t0ken-of-jlis-pki-for-hanako"  # (a token's shape)


def make_ca() -> CertificationAuthority:
    return CertificationAuthority(
        Hierarchy.generate(dt.datetime.now(dt.UTC)),
        holder_key=b"k" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )


@pytest.fixture
async def pool() -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with fresh_pool("renkei_pki_links") as found:
        yield found


async def test_a_link_whose_write_is_cut_is_written_again(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    dsn, conns = pool
    store = PgStore(conns, PKI_OFFICE)
    await store.migrate()
    ca = make_ca()
    listener = CaListener(ca, store, retry=0.01)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with capture_logs() as logs:
        async with writes_held(dsn, f"{schema_for(PKI_OFFICE)}.docs") as cut:
            issued = ca.issue(CertKind.AUTHENTICATION, key, holder_for(TOKEN), WHERE)
            assert await cut() == 1  # the link's write, cut under way
        await listener.close()  # (waits for the links being written)
    # J-LIS started again: what it knows of the link is what its store holds
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert await CaListener(ca, store).identify(der) == Identified(token=TOKEN)
    assert [e["log_level"] for e in logs if e["event"] == "pki.link_unwritten"] == ["warning"]


class DownStore(MemoryStore):
    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Any]]) -> int:
        raise OSError("connection refused")


async def test_a_link_still_unwritten_at_close_is_said_lost() -> None:
    """The store down for good: closing waits ``retry_max`` (each write tried once more), not
    for ever, and the error line says how many links were lost; until then, the link held in
    memory identified its resident."""
    ca = make_ca()
    listener = CaListener(ca, DownStore(), retry=0.01, retry_max=0.05)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    issued = ca.issue(CertKind.AUTHENTICATION, key, holder_for(TOKEN), WHERE)
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert await listener.identify(der) == Identified(token=TOKEN)
    with capture_logs() as logs:
        await listener.close()
    lost = [e for e in logs if e["event"] == "pki.links_lost"]
    assert [(e["log_level"], e["links"]) for e in lost] == [("error", 1)]
    assert not listener._writes


class StoreBackAfter(MemoryStore):
    """Down for its first ``failures`` writes (PostgreSQL restarting), then up."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Any]]) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("connection refused")
        return await super().put_many(collection, rows)


def _issue_body(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    return {
        "kind": "authentication",
        "public_key": key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "holder": holder_for(TOKEN),
        "prefecture": "Tokyo-to",
        "municipality": "Chiyoda-ku",
    }


async def test_a_certificate_is_handed_out_only_once_its_link_is_durable() -> None:
    """``POST /certificates`` waits for J-LIS's link to be written: while the store is down
    the desk has no answer (so a CA stopped then loses no card's logins: the desk got no
    certificate and asks again); once it is written, the answer, and the store holds the link.
    Before, the certificate was handed out at once and its link written after, if at all."""
    ca = make_ca()
    store = StoreBackAfter(failures=3)
    listener = CaListener(ca, store, retry=0.05, retry_max=0.1)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    body, operator = _issue_body(key), {"Authorization": f"Bearer {ca.operator_token}"}
    async with TestClient(TestServer(create_app(ca, linked=listener.linked))) as client:
        answer = asyncio.ensure_future(client.post("/certificates", json=body, headers=operator))
        await asyncio.sleep(0.08)  # two writes failed, the third waits its pause
        assert not answer.done() and store.failures > 0
        response = await asyncio.wait_for(answer, 5)
        assert response.status == 201
        assert store.failures == 0
        der = load_pem_x509_certificate((await response.json())["certificate"].encode())
    linked = await CaListener(ca, store).identify(der.public_bytes(serialization.Encoding.DER))
    assert linked == Identified(token=TOKEN)
    await listener.close()


async def test_a_certificate_of_no_holder_to_link_is_handed_out_at_once() -> None:
    """A holder reference not J-LIS's (no ``t:`` prefix) has no link: nothing to wait for."""
    ca = make_ca()
    listener = CaListener(ca, DownStore())
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    issued = ca.issue(CertKind.AUTHENTICATION, key, "desk-ref-17", WHERE)
    await asyncio.wait_for(listener.linked(issued), 1)
    assert not listener._writes


async def test_no_certificate_is_handed_out_once_the_office_has_stopped() -> None:
    """The office stops before the CA's web site (``renkei pki serve``: the network closes
    first, and its close waits up to ``retry_max`` for the links being written): a certificate
    issued meanwhile has no link at all, since the office no longer hears of it, and must not
    be handed out (503: the desk asks again once the CA is back). Before: 201 at once, and that
    card's logins found no one."""
    ca = make_ca()
    store = MemoryStore()
    listener = CaListener(ca, store, retry=0.01, retry_max=0.05)
    await listener.close()
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    operator = {"Authorization": f"Bearer {ca.operator_token}"}
    async with TestClient(TestServer(create_app(ca, linked=listener.linked))) as client:
        response = await client.post("/certificates", json=_issue_body(key), headers=operator)
        assert response.status == 503
        assert (await response.json())["code"] == "pki.unavailable"


async def test_a_certificate_whose_write_close_gave_up_is_answered_unavailable() -> None:
    """The store down for good: the desk waits; the office's close gives the write up after
    ``retry_max`` — the desk is then told 503, not left with a connection dropped."""
    ca = make_ca()
    listener = CaListener(ca, DownStore(), retry=0.01, retry_max=0.05)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    operator = {"Authorization": f"Bearer {ca.operator_token}"}
    async with TestClient(TestServer(create_app(ca, linked=listener.linked))) as client:
        answer = asyncio.ensure_future(
            client.post("/certificates", json=_issue_body(key), headers=operator)
        )
        await asyncio.sleep(0.05)
        assert not answer.done()
        await listener.close()
        response = await asyncio.wait_for(answer, 5)
        assert response.status == 503


class Switched(MemoryStore):
    """Down until ``down`` is cleared (PostgreSQL out of reach for a while)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Any]]) -> int:
        if self.down:
            raise OSError("connection refused")
        return await super().put_many(collection, rows)


def counted(ca: CertificationAuthority) -> list[int]:
    """The certificates the CA issues, by serial (a request asked again is told to the hooks
    again, with its first serial: not another certificate)."""
    serials: list[int] = []

    def told(issued: Issued, holder: str) -> None:
        if issued.serial not in serials:
            serials.append(issued.serial)

    ca.on_issue.append(told)
    return serials


async def written(listener: CaListener) -> None:
    async with asyncio.timeout(5):
        while listener._writes:  # noqa: ASYNC110 - the listener signals nothing: polled
            await asyncio.sleep(0.01)


async def test_past_the_link_wait_the_desk_hears_503_and_asking_again_issues_nothing_new() -> None:
    """The store out of reach for longer than ``link_wait``: 503 ``pki.unavailable`` with a
    Retry-After, not a request left hanging until the CA stops; the same request again (its
    key's PEM in other line endings) gets no second certificate, and once the link is written
    it gets the first one. Before, each ask issued another certificate, valid and never
    handed out, and waited until the web site's shutdown."""
    ca = make_ca()
    serials = counted(ca)
    store = Switched()
    listener = CaListener(ca, store, retry=0.01, retry_max=0.05)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    body, operator = _issue_body(key), {"Authorization": f"Bearer {ca.operator_token}"}
    again = body | {"public_key": body["public_key"].replace("\n", "\r\n")}
    app = create_app(ca, linked=listener.linked, link_wait=0.1)
    async with TestClient(TestServer(app)) as client:
        for ask in (body, again):
            response = await asyncio.wait_for(
                client.post("/certificates", json=ask, headers=operator), 5
            )
            assert response.status == 503
            assert (await response.json())["code"] == "pki.unavailable"
            assert 0 < int(response.headers["Retry-After"]) <= 30
        assert len(serials) == 1
        store.down = False
        await written(listener)
        response = await client.post("/certificates", json=again, headers=operator)
        assert response.status == 201
        assert int((await response.json())["serial"], 16) == serials[0]
        other = _issue_body(ec.generate_private_key(ec.SECP256R1()).public_key())
        assert (await client.post("/certificates", json=other, headers=operator)).status == 201
    assert len(serials) == 2  # another key is another request
    await listener.close()


async def test_a_remembered_certificate_revoked_since_is_not_answered_again() -> None:
    """Nor is another issued for the same request: its key was reported compromised."""
    ca = make_ca()
    serials = counted(ca)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    body, operator = _issue_body(key), {"Authorization": f"Bearer {ca.operator_token}"}
    async with TestClient(TestServer(create_app(ca))) as client:
        first = await (await client.post("/certificates", json=body, headers=operator)).json()
        revoke = {"ca": "authentication", "serial": first["serial"], "reason": "key_compromise"}
        assert (await client.post("/revocations", json=revoke, headers=operator)).status == 200
        second = await client.post("/certificates", json=body, headers=operator)
        assert second.status == 422
        assert (await second.json())["code"] == "pki.refused"
    assert len(serials) == 1


async def test_the_desk_asks_again_after_the_retry_after_and_gets_the_one_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``HttpCa.issue`` heeds a 503 ``pki.unavailable``: waits its Retry-After and sends the
    same request; the CA answers it with the certificate issued the first time."""
    ca = make_ca()
    serials = counted(ca)
    store = Switched()
    listener = CaListener(ca, store, retry=0.01, retry_max=0.05)
    loop = asyncio.get_running_loop()
    ca.on_issue.append(lambda *_: loop.call_later(0.15, setattr, store, "down", False))
    monkeypatch.setattr("pki.ca.server.RETRY_AFTER", 0)
    asks: list[int] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        asks.append(response.status)
        return response

    app = create_app(ca, linked=listener.linked, link_wait=0.1)
    app.middlewares.insert(0, count)  # outermost: it sees the answer the desk gets
    pem = _issue_body(ec.generate_private_key(ec.SECP256R1()).public_key())["public_key"]
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        desk = HttpCa(http, str(server.make_url("/")), ca.operator_token)
        der = await asyncio.wait_for(desk.issue("authentication", pem, **WHO), 5)
    assert asks[0] == 503 and asks[-1] == 201
    assert load_der_x509_certificate(der).serial_number == serials[0] and len(serials) == 1
    await listener.close()


WHO: dict[str, Any] = {
    "holder": holder_for(TOKEN),
    "prefecture": "Tokyo-to",
    "municipality": "Chiyoda-ku",
    "facts": None,
}


@pytest.mark.parametrize(
    ("header", "pause"),
    [
        ("5", 5.0),
        (None, 1.0),
        ("soon", 1.0),
        ("-3", 0.0),
        ("86400", 30.0),
        ("1e999", 30.0),
        ("nan", 1.0),
    ],
)
def test_the_desk_reads_the_retry_after_within_bounds(header: str | None, pause: float) -> None:
    """A CA's Retry-After missing, not seconds, negative or huge: a pause within [0, 30] s."""
    assert _pause(header) == pause


async def test_the_desk_gives_up_after_its_tries_with_a_clear_error() -> None:
    ca = make_ca()
    serials = counted(ca)
    listener = CaListener(ca, Switched(), retry=0.01, retry_max=0.05)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = _issue_body(key)["public_key"]
    app = create_app(ca, linked=listener.linked, link_wait=0.05)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pki.ca.server.RETRY_AFTER", 0)
        async with TestServer(app) as server, aiohttp.ClientSession() as http:
            desk = HttpCa(http, str(server.make_url("/")), ca.operator_token, tries=3)
            with pytest.raises(IssuanceError, match=r"pki\.unavailable.*asked 3 times"):
                await desk.issue("authentication", pem, **WHO)
    assert len(serials) == 1  # three asks, one certificate
    await listener.close()


def a_death_while_the_store_is_down() -> tuple[
    CertificationAuthority,
    list[int],
    Switched,
    CaListener,
    dict[str, str],
    dict[str, str],
    dict[str, str],
]:
    """A CA whose J-LIS store is down, the serials it issues, an issuance request, the
    operator's header and the holder's death (``POST /events``)."""
    ca = make_ca()
    serials = counted(ca)
    store = Switched()
    listener = CaListener(ca, store, retry=0.01, retry_max=0.05)
    body = _issue_body(ec.generate_private_key(ec.SECP256R1()).public_key())
    operator = {"Authorization": f"Bearer {ca.operator_token}"}
    died = {"kind": "died", "holder": holder_for(TOKEN), "at": dt.datetime.now(dt.UTC).isoformat()}
    return ca, serials, store, listener, body, operator, died


async def test_a_request_whose_certificate_a_resident_event_revoked_is_not_issued_again() -> None:
    """The desk's first ask is answered 503 (the store out of reach); the resident dies
    meanwhile (``POST /events``: the certificate revoked as of the death). The desk's ask
    again, the same request, must not be issued another certificate: one issued now is after
    the death, so the event (applied once) never revokes it — a valid certificate for a dead
    resident. Before: 201 with a second certificate, valid."""
    ca, serials, store, listener, body, operator, died = a_death_while_the_store_is_down()
    app = create_app(ca, linked=listener.linked, link_wait=0.1)
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/certificates", json=body, headers=operator)).status == 503
        revoked = await (await client.post("/events", json=died, headers=operator)).json()
        assert [int(r["serial"], 16) for r in revoked["revoked"]] == serials
        store.down = False
        await written(listener)
        again = await client.post("/certificates", json=body, headers=operator)
        assert again.status == 422
        assert (await again.json())["code"] == "pki.refused"
    assert len(serials) == 1
    await listener.close()


async def test_a_certificate_revoked_while_its_link_is_written_is_not_handed_out() -> None:
    """Revoked (the resident died) while the desk's ask waits for the link: once written, the
    desk is told so, not handed the revoked certificate."""
    ca, serials, store, listener, body, operator, died = a_death_while_the_store_is_down()
    async with TestClient(TestServer(create_app(ca, linked=listener.linked))) as client:
        answer = asyncio.ensure_future(client.post("/certificates", json=body, headers=operator))
        async with asyncio.timeout(5):
            while not serials:  # noqa: ASYNC110 - polled: issued, its link waited for
                await asyncio.sleep(0.01)
        assert (await client.post("/events", json=died, headers=operator)).status == 200
        store.down = False
        response = await asyncio.wait_for(answer, 5)
        assert response.status == 422
        assert (await response.json())["code"] == "pki.refused"
    assert len(serials) == 1
    await listener.close()


async def test_a_ca_that_does_not_answer_in_the_sessions_time_is_a_clear_error() -> None:
    """The desk's session times out (its ``ClientTimeout``) while the CA waits on the link:
    an ``IssuanceError`` saying so, not aiohttp's bare ``TimeoutError`` to the desk's caller."""
    ca = make_ca()
    listener = CaListener(ca, Switched(), retry=0.01, retry_max=0.05)
    pem = _issue_body(ec.generate_private_key(ec.SECP256R1()).public_key())["public_key"]
    app = create_app(ca, linked=listener.linked, link_wait=5)
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with TestServer(app) as server, aiohttp.ClientSession(timeout=timeout) as http:
        desk = HttpCa(http, str(server.make_url("/")), ca.operator_token)
        with pytest.raises(IssuanceError, match="did not answer in time"):
            await desk.issue("authentication", pem, **WHO)
    await listener.close()


async def test_a_ca_restarted_before_the_retry_answers_the_certificate_it_issued(
    tmp_path: Path,
) -> None:
    """The CA stopped between its 503 and the desk's retry: restarted on its ledger, it answers
    the same request with the certificate it issued (the same bytes, so the same link key),
    writes that certificate's link, and issues no second one. Before, the restarted CA had
    forgotten the request and issued another certificate, valid and never handed out."""
    hierarchy = Hierarchy.generate(dt.datetime.now(dt.UTC))

    def opened() -> CertificationAuthority:
        return CertificationAuthority(
            hierarchy,
            holder_key=b"k" * 32,
            endpoints=Endpoints("http://127.0.0.1:9"),
            ledger=Ledger(tmp_path / "ledger.sqlite3"),
            operator_token="the operator's",
        )

    store, before = Switched(), opened()
    serials, made = counted(before), list[bytes]()
    before.on_issue.append(lambda issued, _: made.append(issued.certificate.public_bytes(DER)))
    listener = CaListener(before, store, retry=0.01, retry_max=0.05)
    body = _issue_body(ec.generate_private_key(ec.SECP256R1()).public_key())
    operator = {"Authorization": f"Bearer {before.operator_token}"}
    app = create_app(before, linked=listener.linked, link_wait=0.1)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/certificates", json=body, headers=operator)
        assert response.status == 503
    await listener.close()  # its link's write given up: lost with the process
    before.close()

    after = opened()
    store.down = False
    listener = CaListener(after, store, retry=0.01)
    app = create_app(after, linked=listener.linked, link_wait=1.0)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/certificates", json=body, headers=operator)
        assert response.status == 201
        answered = await response.json()
    assert int(answered["serial"], 16) == serials[0]
    assert len(after.ledger) == 1  # no second certificate
    der = load_pem_x509_certificate(answered["certificate"].encode()).public_bytes(DER)
    assert made == [der]  # the very certificate of the first ask, made again
    assert await listener.identify(der) == Identified(token=TOKEN)
    await listener.close()
    after.close()
