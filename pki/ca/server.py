"""The CA's HTTP service (aiohttp): ``create_app(ca)``; ``serve`` runs it until stopped.

| route | who | what |
|---|---|---|
| ``GET /crl/{ca}.crl`` / ``.pem`` | anyone | the current CRL of root, signature, authentication |
| ``GET /ca/{ca}.der`` / ``.pem``, ``/ca/chain.pem`` | anyone | CA certificates |
| ``POST /ocsp``, ``/ocsp/{ca}``; ``GET /ocsp[/{ca}]/{base64}`` | registered verifiers | RFC 6960 |
| ``POST /certificates`` | operator (card desk) | issue a certificate (answered once linked) |
| ``POST /events`` | operator (resident register) | apply a resident change |
| ``POST /revocations`` | operator (desk / call centre, for the resident) | revoke one |
| ``POST /revocations/self`` | the resident, signing with the key | revoke one's own |
| ``GET``/``POST /verifiers``, ``DELETE /verifiers/{id}`` | operator | the verifier registry |

Operators send ``Authorization: Bearer <operator-token>``; verifiers their API key. Errors are
JSON ``{"code": "pki.…", "message": "…"}``; OCSP errors are OCSP responses (HTTP 200). Bodies
over 64 KiB get 413.

``POST /certificates`` waits at most ``link_wait`` seconds (``create_app``) for the link to be
written; past that it answers 503 ``pki.unavailable`` with ``Retry-After``, the write going on.
The same request again (the same fields and key, however encoded) is answered with the certificate
already issued for it, once its link is written — never a second one, so a desk that asks
again after a 503 (``HttpCa.issue`` does) or after losing the answer (its operator would) adds
no certificate valid but never handed out. The CA keeps each request's digest in its ledger with
the certificate's serial, so this holds across its restarts too (the certificate is made again
from the request: the same bytes); a request whose certificate was revoked since is refused
(422 ``pki.refused``), neither answered with it nor issued another.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from hub.log import get_logger
from pki.ca.api import (
    EventIn,
    IssueIn,
    RevokeIn,
    VerifierIn,
    load_public_key,
    parse_body,
    parse_serial,
)
from pki.ca.authority import CertificationAuthority, Issued
from pki.ca.hierarchy import parse_ca
from pki.ca.ledger import RevocationRecord
from pki.ca.ocsp import MALFORMED, UNAUTHORIZED
from pki.ca.selfrevoke import revoke_by_signature
from pki.ca.verifiers import Verifier, VerifierKind
from pki.exceptions import (
    PKI_HTTP,
    PKI_METHOD,
    PKI_TOO_LARGE,
    NotOnFile,
    PkiError,
    PolicyRefused,
    Unauthorized,
    Unavailable,
)
from pki.profiles import CaName, CertKind

__all__ = ["CA", "LINK_WAIT", "MAX_BODY", "create_app", "routes"]

log = get_logger("pki.ca.server")
CA = web.AppKey("ca", CertificationAuthority)
Linked = Callable[[Issued], Awaitable[None]]
LINKED: web.AppKey[Linked] = web.AppKey("linked")
LINK_WAIT_KEY = web.AppKey("link_wait", float)
MAX_BODY = 64 * 1024
LINK_WAIT = 10.0  # seconds POST /certificates waits for the link before it answers 503
RETRY_AFTER = 5  # the Retry-After of that 503, seconds
OCSP_TYPE = "application/ocsp-response"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()
_ISSUING = {CaName.SIGNATURE.value, CaName.AUTHENTICATION.value}


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PkiError as exc:
        later = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return _error(exc.http_status, exc.code, exc.message, later)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: NotOnFile.code, 405: PKI_METHOD, 413: PKI_TOO_LARGE}.get(exc.status, PKI_HTTP)
        return _error(exc.status, code, exc.reason)


def _operator(request: web.Request) -> None:
    token = request.app[CA].operator_token
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("operator token required")


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get(r"/crl/{name}.{ext:crl|pem}")
async def crl(request: web.Request) -> web.Response:
    ca = parse_ca(request.match_info["name"])
    if request.match_info["ext"] == "crl":
        der = request.app[CA].crl_bytes(ca, serialization.Encoding.DER)
        return web.Response(body=der, content_type="application/pkix-crl")
    pem = request.app[CA].crl_bytes(ca, serialization.Encoding.PEM)
    return web.Response(body=pem, content_type="application/x-pem-file")


@routes.get(r"/ca/{name}.{ext:der|pem}")
async def ca_cert(request: web.Request) -> web.Response:
    h, name, ext = request.app[CA].hierarchy, request.match_info["name"], request.match_info["ext"]
    if name == "chain" and ext == "pem":
        return web.Response(body=h.chain_pem(), content_type="application/x-pem-file")
    cert = h.issuer(parse_ca(name)).cert
    if ext == "der":
        return web.Response(
            body=cert.public_bytes(serialization.Encoding.DER), content_type="application/pkix-cert"
        )
    return web.Response(
        body=cert.public_bytes(serialization.Encoding.PEM), content_type="application/x-pem-file"
    )


def _verifier(request: web.Request) -> Verifier | None:
    try:
        return request.app[CA].verifiers.authenticate(request.headers.get("Authorization"))
    except Unauthorized:
        return None


def _ocsp_reply(request: web.Request, der: bytes, route: str | None) -> web.Response:
    if route is not None and route not in _ISSUING:
        return web.Response(body=UNAUTHORIZED, content_type=OCSP_TYPE)  # we serve no such CA
    ca = request.app[CA]
    body = ca.ocsp(der, verifier=_verifier(request), route=CaName(route) if route else None)
    return web.Response(body=body, content_type=OCSP_TYPE)


@routes.post("/ocsp")
@routes.post("/ocsp/{ca}")
async def ocsp_post(request: web.Request) -> web.Response:
    return _ocsp_reply(request, await request.read(), request.match_info.get("ca"))


@routes.get("/ocsp/{tail:.+}")
async def ocsp_get(request: web.Request) -> web.Response:
    tail = request.raw_path.split("?", 1)[0][len("/ocsp/") :]
    head, _, rest = tail.partition("/")
    route: str | None = None
    if rest and head in {c.value for c in CaName}:
        route, tail = head, rest
    try:
        der = base64.b64decode(unquote(tail), validate=True)
    except (binascii.Error, ValueError):
        return web.Response(body=MALFORMED, content_type=OCSP_TYPE)
    return _ocsp_reply(request, der, route)


def _not_revoked(ca: CertificationAuthority, issued: Issued) -> None:
    """The certificate issued for a request, revoked since (a resident event, a revocation):
    refused, not issued again — the request is stale (a resident dead or moved, a key lost),
    and a certificate issued now would postdate the event, which never revokes it."""
    if ca.status(issued.ca, issued.serial)[1] is not None:
        raise PolicyRefused(
            "the certificate issued for this request has been revoked since: not issued again"
            " (a new application, checked against the register)"
        )


@routes.post("/certificates")
async def issue(request: web.Request) -> web.Response:
    _operator(request)
    body = parse_body(IssueIn, await request.read())
    ca = request.app[CA]
    key = load_public_key(body.public_key)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # the request as asked, however its key was encoded (the CA keeps only an HMAC of it)
    asked = body.model_copy(update={"public_key": spki.hex()}).model_dump_json().encode()
    issued = ca.issue(
        CertKind(body.kind),
        key,
        body.holder,
        body.locality(),
        body.facts.to_facts() if body.facts else None,
        code=body.code,
        request=asked,
    )
    _not_revoked(ca, issued)  # (asked again: revoked since it was issued)
    try:  # J-LIS's link to the holder durable before the answer; the write goes on regardless
        async with asyncio.timeout(request.app[LINK_WAIT_KEY]):
            await request.app[LINKED](issued)
    except TimeoutError:
        raise Unavailable(
            "the certificate's link to its holder is not written yet (J-LIS's store is out of"
            " reach): send the same request again; the same certificate is answered once it is",
            retry_after=RETRY_AFTER,
        ) from None
    _not_revoked(ca, issued)  # (revoked while its link was written)
    cert = issued.certificate
    return web.json_response(
        {
            "ca": issued.ca.value,
            "serial": f"{issued.serial:x}",
            "subject_id": issued.subject_id,
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "certificate": issued.pem(),
        },
        status=201,
    )


def _revocation_json(recs: list[RevocationRecord]) -> list[dict[str, str]]:
    return [{"ca": r.ca.value, "serial": f"{r.serial:x}", "reason": r.reason.value} for r in recs]


@routes.post("/events")
async def events(request: web.Request) -> web.Response:
    _operator(request)
    event = parse_body(EventIn, await request.read()).to_event()
    done = request.app[CA].apply_event(event)
    return web.json_response({"revoked": _revocation_json(done)})


@routes.post("/revocations")
async def revoke(request: web.Request) -> web.Response:
    _operator(request)
    body = parse_body(RevokeIn, await request.read())
    rec = request.app[CA].revoke(CaName(body.ca), parse_serial(body.serial), body.reason.crl_reason)
    return web.json_response({"revoked": _revocation_json([rec])})


@routes.post("/revocations/self")
async def revoke_self(request: web.Request) -> web.Response:
    rec = revoke_by_signature(request.app[CA], await request.read())
    return web.json_response({"revoked": _revocation_json([rec])})


@routes.get("/verifiers")
async def verifiers(request: web.Request) -> web.Response:
    _operator(request)
    return web.json_response([v.public() for v in request.app[CA].verifiers.all()])


@routes.post("/verifiers")
async def register(request: web.Request) -> web.Response:
    _operator(request)
    body = parse_body(VerifierIn, await request.read())
    ca = request.app[CA]
    v, key = ca.verifiers.register(
        body.name,
        VerifierKind(body.kind),
        frozenset(CertKind(r) for r in body.roles),
        body.licence,
        ca.now(),
    )
    log.info("verifier registered", kind=v.kind.value)
    return web.json_response(v.public() | {"api_key": key}, status=201)


@routes.delete("/verifiers/{vid}")
async def unregister(request: web.Request) -> web.Response:
    _operator(request)
    request.app[CA].verifiers.remove(request.match_info["vid"])
    return web.json_response({"removed": request.match_info["vid"]})


async def _crl_schedule(app: web.Application) -> AsyncIterator[None]:
    ca = app[CA]

    async def loop() -> None:
        while True:
            await asyncio.sleep(ca.crl_interval.total_seconds())
            ca.refresh_crls()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _nothing_to_link(_: Issued) -> None:
    return None


def create_app(
    ca: CertificationAuthority,
    *,
    linked: Linked = _nothing_to_link,
    link_wait: float = LINK_WAIT,
) -> web.Application:
    """``linked``: waits until what the CA's hooks keep of a certificate is durable (J-LIS's
    link to its holder: ``CaListener.linked``), so ``POST /certificates`` answers only then —
    or, past ``link_wait`` seconds, 503 (the same request again gets the same certificate)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors])
    app[CA] = ca
    app[LINKED] = linked
    app[LINK_WAIT_KEY] = link_wait
    app.add_routes(routes)
    app.cleanup_ctx.append(_crl_schedule)
    return app
