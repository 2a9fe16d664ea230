"""The centre's side of the 専用回線: what a kiosk asks it, over HTTP (JSON in, PDF out).

- ``GET /v1/status`` → ``{"open": bool, "message"}``: whether the service runs now (the hours
  and the closed days are the centre's); a kiosk asks before it asks the resident anything.
- ``POST /v1/challenge`` → ``{"challenge": base64url}``: 32 fresh bytes, one use, 2 minutes.
- ``POST /v1/quote`` ``{"kind", "options", "copies"}`` → ``{"kind", "title", "fee", "copies",
  "max_copies"}``, and for the tax certificate ``"fiscal_year"`` (the one quoted) and
  ``"fiscal_years"`` (those a kiosk may offer, the latest first): the fee, shown before
  printing.
- ``POST /v1/certificates`` ``{"challenge", "signature", "certificate", "kind", "options",
  "copies"}`` (base64url; the card's RSA PKCS#1 v1.5 SHA-256 signature over the raw challenge
  by its user-certificate key) → 200 ``application/pdf``, the municipality's signed
  certificate, with ``X-Fee`` and ``X-Record-Id``.

Refusals are JSON `{"code", "message"}`: 400 a malformed request or an order the kiosk may
not make, 401 the card's answer does not verify, 403 the card's certificate is refused (revoked,
expired …) or the municipality refuses (支援措置, a move out filed) or the service is closed,
404 nothing to certify, 413 over 32 KiB, 415 not JSON, 503 J-LIS or the municipality did not
answer. Every answer carries strict security headers (no script, no framing, no caching).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from issuance.exceptions import (
    ISSUANCE_BAD_OPTIONS,
    ISSUANCE_BAD_REQUEST,
    ISSUANCE_BAD_RESPONSE,
    ISSUANCE_CARD_REFUSED,
    ISSUANCE_CLOSED,
    ISSUANCE_NOT_ISSUED,
    ISSUANCE_UNAVAILABLE,
    ISSUANCE_UNKNOWN_KIND,
    IssuanceRefused,
)
from issuance.office import IssuanceCentre
from issuance.rules import MAX_COPIES, check_open, fiscal_years, order

__all__ = ["CENTRE", "MAX_BODY", "create_api"]

CENTRE = web.AppKey("centre", IssuanceCentre)
MAX_BODY = 32 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATUS = {
    ISSUANCE_BAD_REQUEST: 400,
    ISSUANCE_BAD_OPTIONS: 400,
    ISSUANCE_UNKNOWN_KIND: 400,
    ISSUANCE_BAD_RESPONSE: 401,
    ISSUANCE_CARD_REFUSED: 403,
    ISSUANCE_CLOSED: 403,
    ISSUANCE_NOT_ISSUED: 404,
    ISSUANCE_UNAVAILABLE: 503,
}
FIELDS = frozenset({"challenge", "signature", "certificate", "kind", "options", "copies"})


def _error(code: str, message: str, status: int | None = None) -> web.Response:
    body = orjson.dumps({"code": code, "message": message})
    return web.Response(
        body=body, status=status or STATUS.get(code, 403), content_type="application/json"
    )


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except IssuanceRefused as exc:
        response = _error(exc.code, str(exc))
    except web.HTTPRequestEntityTooLarge:
        response = _error(ISSUANCE_BAD_REQUEST, f"over {MAX_BODY} bytes", 413)
    except web.HTTPException as exc:
        response = _error(ISSUANCE_BAD_REQUEST, exc.reason, exc.status)
    response.headers.update(HEADERS)
    return response


def _bad(message: str) -> IssuanceRefused:
    return IssuanceRefused(ISSUANCE_BAD_REQUEST, message)


async def _json(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send application/json")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _bad("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad("the body is not a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"unknown fields: {', '.join(unknown)[:200]}")
    return body


def _text(body: dict[str, Any], name: str, limit: int = 64) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _bad(f"{name}: a string of 1 to {limit} characters")
    return value


def _b64(body: dict[str, Any], name: str) -> bytes:
    text = _text(body, name, MAX_BODY)
    try:
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{name}: not base64url") from None


def _order_of(body: dict[str, Any], centre: IssuanceCentre) -> Any:
    options = body.get("options", {})
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 32 and len(v) <= 32
        for k, v in options.items()
    ):
        raise _bad("options: an object of short strings")
    copies = body.get("copies", 1)
    if not isinstance(copies, int) or isinstance(copies, bool):
        raise _bad("copies: an integer")
    return order(_text(body, "kind"), options, centre.clock(), copies)


async def _status(request: web.Request) -> web.Response:
    try:
        check_open(request.app[CENTRE].clock())
    except IssuanceRefused as exc:
        return web.json_response({"open": False, "message": str(exc)})
    return web.json_response({"open": True, "message": ""})


async def _challenge(request: web.Request) -> web.Response:
    value = request.app[CENTRE].challenge()
    text = base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")
    return web.json_response({"challenge": text})


async def _quote(request: web.Request) -> web.Response:
    body = await _json(request, frozenset({"kind", "options", "copies"}))
    centre = request.app[CENTRE]
    made = _order_of(body, centre)
    quote: dict[str, Any] = {
        "kind": made.kind.item,
        "title": made.title,
        "fee": made.fee,
        "copies": made.copies,
        "max_copies": MAX_COPIES,
    }
    if "fiscal_year" in made.params:
        quote["fiscal_year"] = made.params["fiscal_year"]
        quote["fiscal_years"] = list(fiscal_years(centre.clock()))
    return web.json_response(quote)


async def _certificates(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    body = await _json(request, FIELDS)
    made = _order_of(body, centre)  # a bad order spends no challenge
    person = await centre.authenticate(
        _b64(body, "challenge"), _b64(body, "signature"), _b64(body, "certificate")
    )
    issued = await centre.issue(person, made)
    if issued.pdf is None:
        raise IssuanceRefused(ISSUANCE_NOT_ISSUED, "市区町村が証明書を発行しませんでした")
    return web.Response(
        body=issued.pdf,
        content_type="application/pdf",
        headers={"X-Fee": str(made.fee), "X-Record-Id": issued.record_id},
    )


def create_api(centre: IssuanceCentre) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_guard])
    app[CENTRE] = centre
    app.router.add_get("/v1/status", _status)
    app.router.add_post("/v1/challenge", _challenge)
    app.router.add_post("/v1/quote", _quote)
    app.router.add_post("/v1/certificates", _certificates)
    return app
