"""One-stop applications: the form, the document the card signs, and its delivery.

``POST /applications/new/{kind}`` validates the form, builds the canonical document and keeps
it pending in the session, then shows a confirmation whose form posts the document to the card
bridge (``{bridge_url}/sign``). The bridge asks the signature password, signs (CMS, DER) and
posts back to ``POST /applications/signed`` with ``signed`` and ``state`` (the pending id,
bound to this session and used once). The office verifies the signature, not the portal.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from aiohttp import web

from hub.log import get_logger
from portal.codec import b64url_decode, b64url_encode
from portal.exceptions import Unavailable
from portal.forms import FIELDS, build_document, is_kind, summary, validate
from portal.model import APPLICATIONS, ApplicationKind
from portal.present import status_row
from portal.sessions import Pending
from portal.state import JST, portal_of, read_form, render, see_other, session_of, uuid_or_404

__all__ = ["application_form", "applications", "resend", "retry", "signed", "submit_form"]

log = get_logger("portal.applications")
MAX_SIGNED = 192 * 1024


def _kind(request: web.Request) -> ApplicationKind:
    kind = request.match_info["kind"]
    if not is_kind(kind):
        raise web.HTTPNotFound
    return cast(ApplicationKind, kind)


def _pending_rows(request: web.Request) -> list[dict[str, str]]:
    return [
        {
            "application_id": str(p.application_id),
            "kind": APPLICATIONS[p.kind],
            "waiting": "再送信待ち (to send again)" if p.signed else "署名待ち (to be signed)",
            "retry": "yes" if p.signed else "",
        }
        for p in session_of(request).pending.values()
    ]


async def applications(request: web.Request) -> web.StreamResponse:
    portal, session = portal_of(request), session_of(request)
    context: dict[str, Any] = {
        "kinds": APPLICATIONS,
        "pending": _pending_rows(request),
        "unavailable": "",
    }
    try:
        rows = [status_row(s) for s in await portal.backend.applications(session.person)]
    except Unavailable as exc:
        return render(
            request,
            "applications.html",
            status=503,
            rows=[],
            **(context | {"unavailable": str(exc)}),
        )
    return render(request, "applications.html", rows=rows, **context)


def _form_page(
    request: web.Request,
    kind: ApplicationKind,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "application_form.html",
        status=status,
        kind=kind,
        title=APPLICATIONS[kind],
        fields=FIELDS[kind],
        values=values,
        errors=errors,
    )


async def application_form(request: web.Request) -> web.StreamResponse:
    return _form_page(request, _kind(request), {}, {})


async def submit_form(request: web.Request) -> web.StreamResponse:
    kind = _kind(request)
    portal, session = portal_of(request), session_of(request)
    now = portal.clock()
    clean, errors = validate(kind, await read_form(request), now.astimezone(JST).date())
    if errors:
        log.info("application form refused", kind=kind, fields=sorted(errors))
        return _form_page(request, kind, clean, errors, status=400)
    application_id = uuid.uuid4()
    document = build_document(kind, clean, application_id, now)
    session.add_pending(Pending(application_id, kind, clean, document, now))
    return render(
        request,
        "application_confirm.html",
        title=APPLICATIONS[kind],
        fields=FIELDS[kind],
        values=clean,
        action=f"{portal.bridge_url}/sign",
        document=b64url_encode(document),
        summary=summary(kind, clean),
        return_to=f"{portal.public_origin}/applications/signed",
        state=str(application_id),
    )


async def _deliver(request: web.Request, pending: Pending, blob: bytes) -> web.Response:
    portal, session = portal_of(request), session_of(request)
    key = str(pending.application_id)
    try:
        status = await portal.backend.submit(session.person, pending.kind, pending.form, blob)
    except Unavailable as exc:
        pending.signed = blob
        log.warning("application not delivered", kind=pending.kind, unavailable=str(exc))
        return render(
            request,
            "application_result.html",
            status=503,
            title=APPLICATIONS[pending.kind],
            result=None,
            unavailable=str(exc),
            retry_id=key,
        )
    if status.status == "unavailable":
        pending.signed = blob
    else:
        session.pending.pop(key, None)
    log.info("application delivered", kind=pending.kind, status=status.status)
    return render(
        request,
        "application_result.html",
        title=APPLICATIONS[pending.kind],
        result=status_row(status),
        unavailable="",
        retry_id=key if status.status == "unavailable" else "",
    )


def _bad_request(request: web.Request, message: str) -> web.Response:
    return render(request, "error.html", status=400, status_code=400, message=message)


async def signed(request: web.Request) -> web.StreamResponse:
    """Posted by the bridge's page: ``signed`` (base64url CMS) for the pending ``state``."""
    session = session_of(request)
    form = await read_form(request)
    pending = session.pending.get(form.get("state", ""))
    if pending is None:
        log.warning("signed application refused", reason="unknown pending id")
        return _bad_request(
            request,
            "この申請は見つかりません(期限切れか、別の画面で作成されたものです) "
            "(no such pending application in this session)",
        )
    try:
        blob = b64url_decode(form.get("signed", ""), limit=MAX_SIGNED * 2)
    except ValueError:
        blob = b""
    if not blob:
        return _bad_request(
            request, "署名済みの申請を読み取れません (the signed application is malformed)"
        )
    return await _deliver(request, pending, blob)


async def retry(request: web.Request) -> web.StreamResponse:
    """Send again an application the office could not take (its signature is kept)."""
    pending = session_of(request).pending.get(request.match_info["application_id"])
    if pending is None or pending.signed is None:
        raise web.HTTPNotFound
    return await _deliver(request, pending, pending.signed)


async def resend(request: web.Request) -> web.StreamResponse:
    """Send again an application of the resident's that was sent and never answered (応答なし):
    the same signed document, 確認中 again (the office files it once). Any other id — another
    resident's, one answered or still being sent, a malformed one — is a 404."""
    portal, session = portal_of(request), session_of(request)
    status_id = uuid_or_404(request.match_info["application_id"])
    status = await portal.backend.send_again(session.person, status_id)
    if status is None:
        raise web.HTTPNotFound
    log.info("application sent again", kind=status.kind)
    return see_other("/applications")
