"""A relying party's I/O: fetch CRLs, ask the OCSP responder, verify a signed application.

``verify_signed`` puts the pure checks (``pki.cms``, ``pki.relying.verify``) around one revocation
look-up, by CRL (public; from the certificate's distribution point or a file given) or by OCSP
(registered verifiers; needs the API key).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import aiohttp
from cryptography import x509

from pki.ca.crl import RevocationStatus, check_crl, load_crl
from pki.cms import check_signature, parse_signed
from pki.exceptions import DocumentMismatch, Malformed, RevocationUnknown, Revoked
from pki.relying.status import check_ocsp_response, ocsp_request
from pki.relying.verify import (
    Trust,
    VerifiedSignature,
    check_login_path,
    check_path,
    check_revocation,
)

__all__ = [
    "MAX_FETCH",
    "RevocationSource",
    "crl_url_of",
    "fetch",
    "revocation_status",
    "verify_login",
    "verify_signed",
]

MAX_FETCH = 8 * 1024 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True, slots=True)
class RevocationSource:
    """Where to learn revocation: a CRL in hand, the certificate's CRL URL, or OCSP."""

    crl: bytes | None = None
    ocsp_url: str | None = None
    api_key: str | None = None

    def __repr__(self) -> str:
        return f"RevocationSource(crl={self.crl is not None}, ocsp_url={self.ocsp_url!r})"


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise RevocationUnknown(f"refusing to fetch {url[:80]!r}: not an http(s) URL")
    try:
        method = "POST" if data is not None else "GET"
        async with session.request(method, url, data=data, headers=headers, timeout=_TIMEOUT) as r:
            if r.status != 200:
                raise RevocationUnknown(f"{url} answered HTTP {r.status}")
            body = await r.content.read(MAX_FETCH + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RevocationUnknown(f"{url} unreachable: {type(exc).__name__}") from None
    if len(body) > MAX_FETCH:
        raise RevocationUnknown(f"{url} sent more than {MAX_FETCH} bytes")
    return body


def crl_url_of(cert: x509.Certificate) -> str:
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        raise RevocationUnknown("the certificate names no CRL distribution point") from None
    for point in cdp:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                return name.value
    raise RevocationUnknown("the certificate names no CRL URL")


async def revocation_status(
    session: aiohttp.ClientSession,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    source: RevocationSource,
    now: dt.datetime,
) -> RevocationStatus:
    if source.ocsp_url is not None:
        der, nonce = ocsp_request(cert, issuer)
        headers = {"Content-Type": "application/ocsp-request"}
        if source.api_key:
            headers["Authorization"] = f"Bearer {source.api_key}"
        body = await fetch(session, source.ocsp_url, data=der, headers=headers)
        return check_ocsp_response(body, cert, issuer, nonce, now)
    crl_bytes = source.crl if source.crl is not None else await fetch(session, crl_url_of(cert))
    try:
        crl = load_crl(crl_bytes)
    except Malformed as exc:
        raise RevocationUnknown(str(exc)) from None
    return check_crl(crl, issuer, cert.serial_number, now)


async def verify_signed(
    signed: bytes,
    document: bytes | None,
    trust: Trust,
    source: RevocationSource,
    *,
    now: dt.datetime | None = None,
    session: aiohttp.ClientSession | None = None,
) -> VerifiedSignature:
    """Every check of ``pki.relying.verify``, in order; raises the first that fails."""
    now = now or dt.datetime.now(dt.UTC)
    doc = parse_signed(signed)
    if doc.content is None and document is None:
        raise Malformed("a detached signature: give the signed document too")
    if doc.content is not None and document is not None and doc.content != document:
        raise DocumentMismatch("the document given is not the one inside the signature")
    check_signature(doc, document if document is not None else doc.content or b"")
    issuer, facts = check_path(doc, trust, now)
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        status = await revocation_status(session, doc.signer, issuer, source, now)
    finally:
        if own:
            await session.close()
    notes = check_revocation(doc, status)
    subject_id = doc.signer.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return VerifiedSignature(
        facts=facts,
        subject_id=str(subject_id[0].value) if subject_id else "",
        serial=doc.signer.serial_number,
        signing_time=doc.signing_time,
        issuer=issuer.subject.rfc4514_string(),
        notes=notes,
    )


async def verify_login(
    certificate: bytes,
    trust: Trust,
    source: RevocationSource,
    *,
    now: dt.datetime | None = None,
    session: aiohttp.ClientSession | None = None,
) -> x509.Certificate:
    """A user-authentication certificate (DER) fit to log in with: path, policy, validity,
    and not revoked now. Raises the first check that fails."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        leaf = x509.load_der_x509_certificate(certificate)
    except ValueError:
        raise Malformed("not a DER certificate") from None
    issuer = check_login_path(leaf, trust, now)
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        status = await revocation_status(session, leaf, issuer, source, now)
    finally:
        if own:
            await session.close()
    if status.revoked_at is not None and status.revoked_at <= now:
        reason = status.reason.value if status.reason else "unspecified"
        raise Revoked(f"the certificate was revoked ({reason}) on {status.revoked_at:%Y-%m-%d}")
    return leaf
