"""A relying party's I/O: fetch CRLs, ask the OCSP responder, verify a signed application.

``verify_signed`` puts the pure checks (``pki.cms``, ``pki.relying.verify``) around one revocation
look-up, by CRL (public; from the certificate's distribution point or a file given) or by OCSP
(registered verifiers; needs the API key).

A process that checks more than once keeps one :class:`RevocationChecker`: one HTTP session
(connections kept open and reused), each CRL fetched, checked and read once and kept until its
nextUpdate, each OCSP answer kept ``ocsp_ttl`` (2 s by default, never past its nextUpdate). A
revocation is therefore seen at the latest at the CRL's nextUpdate (this CA publishes two
``--crl-interval`` ahead: 2 h by default), or ``ocsp_ttl`` after the responder knows it.
Without one, each check makes its own, used once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import aiohttp
from cryptography import x509

from pki.ca.crl import CheckedCrl, RevocationStatus, checked_crl, load_crl
from pki.cms import check_signature, load_certificate, parse_signed
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
    "OCSP_TTL",
    "RevocationChecker",
    "RevocationSource",
    "crl_url_of",
    "fetch",
    "verify_login",
    "verify_signed",
]

MAX_FETCH = 8 * 1024 * 1024
OCSP_TTL = dt.timedelta(seconds=2)  # well under the portal's 5 s re-check of a session
_OCSP_KEPT = 10_000  # answers kept at most; the oldest go first
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_AnswerKey = tuple[str, str | None, x509.Certificate, int]  # responder, API key, issuer, serial


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
            body = bytearray()
            async for chunk in r.content.iter_any():  # to the end: a CRL comes in many reads
                body += chunk
                if len(body) > MAX_FETCH:
                    raise RevocationUnknown(f"{url} sent more than {MAX_FETCH} bytes")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RevocationUnknown(f"{url} unreachable: {type(exc).__name__}") from None
    return bytes(body)


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


def _crl_in_hand(data: bytes, issuer: x509.Certificate) -> CheckedCrl:
    try:
        return checked_crl(load_crl(data), issuer)
    except Malformed as exc:
        raise RevocationUnknown(str(exc)) from None


class RevocationChecker:
    """Revocation look-ups for a process: one HTTP session, CRLs kept until their nextUpdate,
    OCSP answers for ``ocsp_ttl`` (module docstring). Close it (or ``async with``) at the end."""

    def __init__(self, *, ocsp_ttl: dt.timedelta = OCSP_TTL) -> None:
        self.ocsp_ttl = ocsp_ttl
        self._http: aiohttp.ClientSession | None = None
        self._crls: dict[tuple[str, x509.Certificate], CheckedCrl] = {}  # (URL, issuer)
        self._fetching: dict[tuple[str, x509.Certificate], asyncio.Lock] = {}
        self._answers: dict[_AnswerKey, tuple[dt.datetime, RevocationStatus]] = {}  # until

    async def __aenter__(self) -> RevocationChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """The session, opened on first use (inside the event loop)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def status(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        source: RevocationSource,
        now: dt.datetime,
    ) -> RevocationStatus:
        """The certificate's status now, from ``source``; :class:`RevocationUnknown` if none."""
        if source.ocsp_url is not None:
            return await self._ocsp(cert, issuer, source.ocsp_url, source.api_key, now)
        if source.crl is not None:
            return _crl_in_hand(source.crl, issuer).status(cert.serial_number, now)
        return (await self._crl(crl_url_of(cert), issuer, now)).status(cert.serial_number, now)

    async def _crl(self, url: str, issuer: x509.Certificate, now: dt.datetime) -> CheckedCrl:
        key = (url, issuer)
        async with self._fetching.setdefault(key, asyncio.Lock()):  # one fetch at a time
            kept = self._crls.get(key)
            if kept is None or kept.next_update < now:
                kept = self._crls[key] = _crl_in_hand(await fetch(self.http, url), issuer)
            return kept

    async def _ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        url: str,
        api_key: str | None,
        now: dt.datetime,
    ) -> RevocationStatus:
        key = (url, api_key, issuer, cert.serial_number)  # one verifier's answer is its own
        kept = self._answers.get(key)
        if kept is not None and now < kept[0]:
            return kept[1]
        der, nonce = ocsp_request(cert, issuer)
        headers = {"Content-Type": "application/ocsp-request"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        body = await fetch(self.http, url, data=der, headers=headers)
        status = check_ocsp_response(body, cert, issuer, nonce, now)
        until = now + self.ocsp_ttl
        if status.valid_until is not None:
            until = min(until, status.valid_until)
        self._answers.pop(key, None)
        self._answers[key] = (until, status)
        while len(self._answers) > _OCSP_KEPT:
            del self._answers[next(iter(self._answers))]
        return status


async def verify_signed(
    signed: bytes,
    document: bytes | None,
    trust: Trust,
    source: RevocationSource,
    *,
    now: dt.datetime | None = None,
    checker: RevocationChecker | None = None,
) -> VerifiedSignature:
    """Every check of ``pki.relying.verify``, in order; raises the first that fails.
    ``checker``: the process's (none: one of its own, for this check alone)."""
    now = now or dt.datetime.now(dt.UTC)
    doc = parse_signed(signed)
    if doc.content is None and document is None:
        raise Malformed("a detached signature: give the signed document too")
    if doc.content is not None and document is not None and doc.content != document:
        raise DocumentMismatch("the document given is not the one inside the signature")
    check_signature(doc, document if document is not None else doc.content or b"")
    issuer, facts = check_path(doc, trust, now)
    status = await _status(checker, doc.signer, issuer, source, now)
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
    checker: RevocationChecker | None = None,
) -> x509.Certificate:
    """A user-authentication certificate (DER) fit to log in with: path, policy, validity,
    and not revoked now. Raises the first check that fails. ``checker`` as for
    :func:`verify_signed`."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        leaf = load_certificate(certificate)
    except ValueError as exc:
        raise Malformed(f"not a DER certificate: {exc}") from None
    issuer = check_login_path(leaf, trust, now)
    status = await _status(checker, leaf, issuer, source, now)
    if status.revoked_at is not None and status.revoked_at <= now:
        reason = status.reason.value if status.reason else "unspecified"
        raise Revoked(f"the certificate was revoked ({reason}) on {status.revoked_at:%Y-%m-%d}")
    return leaf


async def _status(
    checker: RevocationChecker | None,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    source: RevocationSource,
    now: dt.datetime,
) -> RevocationStatus:
    if checker is not None:
        return await checker.status(cert, issuer, source, now)
    async with RevocationChecker() as own:
        return await own.status(cert, issuer, source, now)
