"""The kiosk's client of the centre's API believes nothing it has not checked: a forged or
broken centre (wrong types, not JSON, over-long, not a PDF, odd headers, a redirect, nobody
listening) is a refusal with the kiosk's own code, never a crash or a wrong screen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from proc_env import free_port

from kiosk.centre import MAX_JSON, MAX_PDF, Centre
from kiosk.exceptions import KIOSK_CENTRE_ANSWER, KIOSK_CENTRE_UNAVAILABLE, CentreRefused
from kiosk.flow import Signed

Answering = Callable[[web.Request], web.StreamResponse]
SIGNED = Signed("Y2hhbGxlbmdl", b"s" * 256, b"c" * 100)


@pytest.fixture
async def served() -> AsyncIterator[Callable[[Answering], Any]]:
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(answer: Answering) -> Centre:
        async def handler(request: web.Request) -> web.StreamResponse:
            return answer(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        sessions.append(aiohttp.ClientSession())
        return Centre(sessions[-1], str(server.make_url("")))

    yield start
    for s in sessions:
        await s.close()
    for server in servers:
        await server.close()


def json(body: object, status: int = 200) -> Answering:
    return lambda _: web.json_response(body, status=status)


@pytest.mark.parametrize(
    "answer",
    [
        json({"open": "yes"}),
        json({"open": False, "message": 5}),
        json([True]),
        lambda _: web.Response(text="<html>", content_type="text/html"),
        lambda _: web.Response(body=b"{" * 10, content_type="application/json"),
        lambda _: web.Response(body=b" " * (MAX_JSON + 1), content_type="application/json"),
        json({"code": 1, "message": "x"}, 403),
        lambda _: web.Response(text="proxy error", status=502),
        lambda _: web.Response(status=302, headers={"Location": "http://evil.example/"}),
    ],
)
async def test_a_status_that_is_not_the_apis_is_refused(served: Any, answer: Answering) -> None:
    centre = await served(answer)
    with pytest.raises(CentreRefused) as refused:
        await centre.status()
    assert refused.value.refusal == KIOSK_CENTRE_ANSWER


async def test_the_centres_own_refusal_comes_through_with_its_code(served: Any) -> None:
    centre = await served(json({"code": "issuance.closed", "message": "閉まっています"}, 403))
    with pytest.raises(CentreRefused) as refused:
        await centre.quote("seal_certificate", {})
    assert (refused.value.refusal, refused.value.message) == ("issuance.closed", "閉まっています")


@pytest.mark.parametrize(
    "doc",
    [
        {"challenge": "*not base64*"},
        {"challenge": "AA"},  # one byte: no challenge
        {"challenge": "A" * 200},
        {"challenge": None},
    ],
)
async def test_a_forged_challenge_is_refused(served: Any, doc: dict[str, Any]) -> None:
    centre = await served(json(doc))
    with pytest.raises(CentreRefused) as refused:
        await centre.challenge()
    assert refused.value.refusal == KIOSK_CENTRE_ANSWER


GOOD = {"title": "課税（所得）証明書", "fee": 600, "copies": 2, "max_copies": 10}
YEARS = {"fiscal_year": 2025, "fiscal_years": [2026, 2025, 2024, 2023]}


@pytest.mark.parametrize(
    "doc",
    [
        {**GOOD, "fee": -200},
        {**GOOD, "fee": True},
        {**GOOD, "fee": "200"},
        {**GOOD, "title": 7},
        {**GOOD, "title": "x" * 500},
        {**GOOD, "copies": 1},  # not the copies asked
        {**GOOD, "copies": 0},
        {**GOOD, "max_copies": 1},  # below the copies asked
        {**GOOD, "max_copies": 10**6},
        {k: v for k, v in GOOD.items() if k != "max_copies"},
        {**GOOD, "fiscal_year": 2025},  # a year and no years
        {**GOOD, "fiscal_years": [2026]},  # years and no year
        {**GOOD, **YEARS, "fiscal_year": 2019},  # not one of the years
        {**GOOD, **YEARS, "fiscal_year": "2025"},
        {**GOOD, **YEARS, "fiscal_years": [2025, 2025]},
        {**GOOD, **YEARS, "fiscal_years": list(range(2000, 2030))},
        {**GOOD, **YEARS, "fiscal_years": "2025"},
        {**GOOD, **YEARS, "fiscal_years": [2025, True]},
    ],
)
async def test_a_forged_quote_is_refused(served: Any, doc: dict[str, Any]) -> None:
    centre = await served(json(doc))
    with pytest.raises(CentreRefused) as refused:
        await centre.quote("tax_certificate", {}, 2)
    assert refused.value.refusal == KIOSK_CENTRE_ANSWER


async def test_a_good_quote(served: Any) -> None:
    centre = await served(json({**GOOD, **YEARS}))
    quote = await centre.quote("tax_certificate", {"fiscal_year": "2025"}, 2)
    assert (quote.fee, quote.copies, quote.max_copies) == (600, 2, 10)
    assert (quote.fiscal_year, quote.fiscal_years) == (2025, (2026, 2025, 2024, 2023))


def pdf(body: bytes = b"%PDF-1.7 x", fee: str = "200", record: str = "rec-1") -> Answering:
    headers = {"X-Fee": fee, "X-Record-Id": record}
    return lambda _: web.Response(body=body, content_type="application/pdf", headers=headers)


@pytest.mark.parametrize(
    "answer",
    [
        pdf(body=b"<html>not a pdf"),
        pdf(fee="-1"),
        pdf(fee="二百"),
        pdf(record="../../etc/passwd"),  # the record id names the saved file
        pdf(record=""),
        pdf(body=b"%PDF-" + b"0" * MAX_PDF),
    ],
)
async def test_a_forged_certificate_answer_is_refused(served: Any, answer: Answering) -> None:
    centre = await served(answer)
    with pytest.raises(CentreRefused) as refused:
        await centre.issue(SIGNED, "seal_certificate", {})
    assert refused.value.refusal == KIOSK_CENTRE_ANSWER


async def test_a_good_certificate_answer(served: Any) -> None:
    sent: list[Any] = []

    def answer(request: web.Request) -> web.StreamResponse:
        sent.append(request.path)
        return pdf()(request)

    centre = await served(answer)
    issued = await centre.issue(SIGNED, "seal_certificate", {})
    assert (issued.pdf, issued.fee, issued.record_id) == (b"%PDF-1.7 x", 200, "rec-1")
    assert sent == ["/v1/certificates"]


async def test_nobody_listening() -> None:
    async with aiohttp.ClientSession() as http:
        centre = Centre(http, f"http://127.0.0.1:{free_port()}")
        with pytest.raises(CentreRefused) as refused:
            await centre.status()
    assert refused.value.refusal == KIOSK_CENTRE_UNAVAILABLE
