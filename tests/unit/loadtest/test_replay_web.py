"""The replay's portal over HTTP (``renkei/replay_web.py``) against a portal that misbehaves:
a login page with no challenge, a login answered with no session, a greeting naming another
resident, an application's result that is refused, unreadable or oversized, a CA refusing a
card. A fake portal (aiohttp) stands in for the real one (tests/e2e/test_season_replay_real.py
drives the real one)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from loadtest.accounting import ACCEPTED, MISNAMED, REFUSED, UNANSWERED
from renkei.replay_web import SESSION, PortalWeb, WebCard

Page = Callable[[web.Request], web.Response]
LOGIN = (
    '<form><input type="hidden" name="challenge" value="{c}">'
    '<input type="hidden" name="state" value="s1"></form>'
).format(c=base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode())
HOME = '<p class="who"><span class="name">{name}</span> さん</p><input type="hidden" name="csrf" value="t">'
DOC = base64.urlsafe_b64encode(json.dumps({"application_id": "a-1"}).encode()).decode().rstrip("=")
CONFIRM = f'<input type="hidden" name="document" value="{DOC}"><input type="hidden" name="state" value="a-1">'


def _result(status: str, detail: str) -> str:
    return (
        f'<dl><dt>状況 <span class="en">status</span></dt><dd class="status-{status}">x</dd>'
        f'<dt>詳細 <span class="en">receipt or reason</span></dt><dd>{detail}</dd></dl>'
    )


def _portal(pages: dict[tuple[str, str], Page]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return pages[(request.method, request.path)](request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _logged_in(request: web.Request) -> web.Response:
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(SESSION, "sess")
    return response


def _html(text: str, status: int = 200) -> Page:
    return lambda _: web.Response(text=text, status=status, content_type="text/html")


GOOD: dict[tuple[str, str], Page] = {
    ("GET", "/login"): _html(LOGIN),
    ("POST", "/login/complete"): _logged_in,
    ("GET", "/"): _html(HOME.format(name="番号 花子")),
    ("GET", "/history"): _html("<p>ok</p>"),
    ("GET", "/notices"): _html("<p>ok</p>"),
    ("GET", "/me"): _html('<p class="unavailable">an office did not answer</p>'),
    ("POST", "/applications/new/child_allowance"): _html(CONFIRM),
    ("POST", "/applications/signed"): _html(_result("accepted", "chiyoda-child-1")),
}


@pytest.fixture
async def served() -> AsyncIterator[Callable[[dict[tuple[str, str], Page]], Any]]:
    servers: list[TestServer] = []
    webs: list[PortalWeb] = []

    async def serve(pages: dict[tuple[str, str], Page]) -> tuple[PortalWeb, WebCard]:
        server = TestServer(_portal(pages), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        url = str(server.make_url("")).rstrip("/")
        portal = PortalWeb(url, url, "operator")
        webs.append(portal)
        client = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        card = WebCard("p1", "番号 花子", b"\x30\x00", None, client)
        card.sign = _self_signed(portal)
        portal.cards["p1"] = card
        return portal, card

    yield serve
    for w in webs:
        await w.close()
    for s in servers:
        await s.close()


def _self_signed(portal: PortalWeb) -> x509.Certificate:
    """A signature certificate for the replay's key (the fake portal checks nothing)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "card")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(portal.key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(portal.key, hashes.SHA256())
    )


async def test_a_good_visit_logs_in_reads_and_flags_an_unavailable_page(served: Any) -> None:
    portal, card = await served(GOOD)
    assert (await portal.log_in(card))[0] == ACCEPTED
    assert card.cookies[SESSION] == "sess" and card.csrf == "t"
    assert (await portal.page(card, "history")).status == "ok"
    outcome = await portal.page(card, "my_info")  # 200 with an office unavailable in it
    assert (outcome.status, outcome.code) == ("error", "replay.page_unavailable")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({("GET", "/login"): _html("<p>no challenge here</p>")}, REFUSED, "replay.portal_error"),
        ({("GET", "/login"): _html("x" * 2_000_000)}, REFUSED, "replay.portal_error"),
        ({("GET", "/login"): _html("busy", 429)}, REFUSED, "replay.login_limited"),
        ({("POST", "/login/complete"): _html(LOGIN, 403)}, REFUSED, "replay.login_refused"),
        ({("POST", "/login/complete"): _html(LOGIN, 503)}, UNANSWERED, "replay.login_unanswered"),
        (  # a 303 with no session: not a login
            {("POST", "/login/complete"): lambda _: web.Response(status=303)},
            REFUSED,
            "replay.login_refused",
        ),
        (  # the portal greets someone else: J-LIS named another resident
            {("GET", "/"): _html(HOME.format(name="別人 太郎"))},
            MISNAMED,
            "replay.login_misnamed",
        ),
        ({("GET", "/"): _html("oops", 500)}, REFUSED, "replay.portal_error"),
    ],
)
async def test_a_login_the_portal_did_not_accept(
    served: Any, change: dict[tuple[str, str], Page], status: str, code: str
) -> None:
    portal, card = await served({**GOOD, **change})
    got, outcome = await portal.log_in(card)
    assert (got, outcome.code) == (status, code)


async def test_a_login_with_the_portal_gone_is_unanswered(served: Any) -> None:
    portal, card = await served(GOOD)
    portal.url = "http://127.0.0.1:9"  # the discard port: nothing listens
    got, outcome = await portal.log_in(card)
    assert (got, outcome.status) == (UNANSWERED, "timed_out")


async def test_a_form_refused_before_signing(served: Any) -> None:
    portal, card = await served(
        {**GOOD, ("POST", "/applications/new/child_allowance"): _html("bad form", 400)}
    )
    app_id, status, outcome = await portal.apply(card, "child_allowance", {"a": "b"})
    assert (app_id, status, outcome.code) == (None, REFUSED, "replay.application_refused")


@pytest.mark.parametrize(
    ("result", "status", "code"),
    [
        (_html(_result("accepted", "chiyoda-child-1")), ACCEPTED, ""),
        (
            _html(_result("refused", "chiyoda-child.application_signature_invalid: bad")),
            REFUSED,
            "chiyoda-child.application_signature_invalid",
        ),
        (_html(_result("refused", "no code given")), REFUSED, "replay.application_refused"),
        (_html(_result("unavailable", "")), UNANSWERED, "replay.application_unanswered"),
        (_html("kept for a retry", 503), UNANSWERED, "replay.application_unanswered"),
        (_html("<p>not a result page</p>"), REFUSED, "replay.application_refused"),
        (_html("<" * 1_000_000), REFUSED, "replay.application_refused"),
    ],
)
async def test_what_the_portal_said_of_a_signed_application(
    served: Any, result: Page, status: str, code: str
) -> None:
    """Each signed application keeps the document's id, whatever the answer: the loss check
    looks for it in the office's store."""
    portal, card = await served({**GOOD, ("POST", "/applications/signed"): result})
    app_id, got, outcome = await portal.apply(card, "child_allowance", {"a": "b"})
    assert (app_id, got, outcome.code) == ("a-1", status, code)


SID = "0b8c1e2a-5f3d-4c1e-9a7b-2d4e6f8a0c1e"


def _row(status: str, detail: str) -> str:
    return (
        f'<tr data-status-id="{SID}" data-status="{status}"><td>…</td>'
        f'<td data-label="詳細" class="detail">{detail}</td></tr>'
    )


@pytest.mark.parametrize(
    ("settled", "status", "code"),
    [
        ("accepted", ACCEPTED, ""),
        ("refused", REFUSED, "chiyoda-child.application_duplicate"),
        ("pending", UNANSWERED, "replay.application_unanswered"),  # never settled
    ],
)
async def test_an_application_pending_is_read_again_until_settled(
    served: Any, monkeypatch: pytest.MonkeyPatch, settled: str, status: str, code: str
) -> None:
    """Its first send timed out: the portal shows it 確認中 and sends it again by itself; the
    replay reads the list until it is settled (before: 確認中 counted as refused)."""
    monkeypatch.setattr("renkei.replay_web.SETTLE_POLL", 0.0)
    monkeypatch.setattr("renkei.replay_web.SETTLE_POLLS", 3)
    pending = _result("pending", "確認中") + f'<p class="pending" data-status-id="{SID}">…</p>'
    reads = [0]

    def listing(request: web.Request) -> web.Response:
        reads[0] += 1
        now = "pending" if reads[0] < 2 else settled
        detail = {"accepted": "cc-1", "refused": "chiyoda-child.application_duplicate: x"}
        return _html(_row(now, detail.get(now, "")))(request)

    portal, card = await served(
        {
            **GOOD,
            ("POST", "/applications/signed"): _html(pending),
            ("GET", "/applications"): listing,
        }
    )
    app_id, got, outcome = await portal.apply(card, "child_allowance", {"a": "b"})
    assert (app_id, got, outcome.code) == ("a-1", status, code)
    assert reads[0] == (2 if settled != "pending" else 3)
