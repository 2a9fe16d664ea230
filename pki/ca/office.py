"""The certification authority's office on the network (``jlis-pki``): revocation follows
the resident register, and J-LIS names the holder of an authentication certificate for the
portal.

The CA enrolls (as office ``jlis-pki``) each person it certifies and files their certificates
under that token (``holder_for``); a register's change event then reaches it under the same
token, and a move (out, or within the municipality) or a change of name revokes the signature
certificate, a death or a number change (the card bears the former number) both
(``pki.revocations_for``). The revocation is recorded when the CA
learns of the event, not on the event's effective date: 公的個人認証法 第12条 has 機構 record
the 異動等失効情報 with its 記録年月日 as soon as it learns of the change from the 本人確認情報,
which the municipality updates when it processes the 届出 (REGISTER-FACTS §1.4) — so a move
out filed ahead revokes at filing.
When it issues a certificate to such a holder, J-LIS keeps the link from the certificate to
its own token (in its own store; the link never leaves it): a portal login or the portal's
check of who signed an application (``Identify``) gets back ``Identified`` with that token,
which the hub translates for the portal — so no certificate serial becomes anyone else's
matching key.
It runs on the participant runtime (``hub.node``) like every office, and imports no other
service; the composition root hands it to the node as its listener and identifier.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

from cryptography.hazmat.primitives import serialization

from hub.log import get_logger
from hub.node import OfficeStore
from hub.wire import JLIS_PKI, Change, Identified, NotFound, Outcome, Refused
from pki.ca.authority import CertificationAuthority, Issued
from pki.ca.revocation import EventKind, ResidentEvent
from pki.cms import load_certificate
from pki.exceptions import JLIS_BAD_CERTIFICATE, JLIS_CERTIFICATE_REVOKED

__all__ = ["PKI_OFFICE", "CaListener", "holder_for"]

PKI_OFFICE = JLIS_PKI  # the CA's office on the network
LINKS = "certificate_links"
_PREFIX = "t:"
log = get_logger("pki.ca.office")
_EVENTS: dict[str, EventKind] = {
    "moved_out": EventKind.MOVED,  # 住民票の消除
    "address_changed": EventKind.MOVED,  # 住所の記載の修正 (転居)
    "name_changed": EventKind.NAME_CHANGED,  # 氏名の記載の修正
    "death": EventKind.DIED,
    "number_changed": EventKind.NUMBER_CHANGED,  # the card bears the former number
}


def holder_for(token: str) -> str:
    """The CA's holder reference for a person: its own network token (no number, no name)."""
    return f"{_PREFIX}{token}"


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class CaListener:
    """``jlis-pki``'s office code: change events → revocations; certificates → holders."""

    def __init__(self, ca: CertificationAuthority, store: OfficeStore | None = None) -> None:
        self.ca = ca
        self.store = store
        self._links: dict[str, str] = {}
        self._writes: set[asyncio.Task[int]] = set()
        ca.on_issue.append(self._issued)

    async def changed(
        self, person: str, change: Change, effective: dt.date, detail: dict[str, str]
    ) -> None:
        kind = _EVENTS.get(change)
        if kind is None:  # births, move-ins and household changes revoke nothing
            return
        at = self.ca.now()  # the 記録年月日: now, not ``effective`` (see the module's text)
        revoked = self.ca.apply_event(ResidentEvent(kind, holder_for(person), at))
        log.info("pki.event", change=change, revoked=len(revoked))

    async def close(self) -> None:
        """Stop hearing of issued certificates; wait for the links being written."""
        if self._issued in self.ca.on_issue:
            self.ca.on_issue.remove(self._issued)
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _issued(self, issued: Issued, holder: str) -> None:
        if not holder.startswith(_PREFIX):
            return
        der = issued.certificate.public_bytes(serialization.Encoding.DER)
        key, token = _fingerprint(der), holder.removeprefix(_PREFIX)
        if self.store is None:  # with a store, the store is the one copy
            self._links[key] = token
        else:
            task = asyncio.get_running_loop().create_task(
                self.store.put_many(LINKS, [(key, None, {"token": token})])
            )
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def identify(self, certificate: bytes) -> Outcome:
        """The holder of a certificate this CA issued and has not revoked: the authentication
        certificate of a login, or the signature certificate of an application."""
        try:
            cert = load_certificate(certificate)
        except ValueError:
            return Refused(code=JLIS_BAD_CERTIFICATE, reason="not a DER certificate")
        ca_name = next(
            (n for n, i in self.ca.hierarchy.cas.items() if i.cert.subject == cert.issuer), None
        )
        known, revocation = (False, None)
        if ca_name is not None:
            known, revocation = self.ca.status(ca_name, cert.serial_number)
        if not known:
            return NotFound(reason="no certificate of J-LIS with this serial")
        if revocation is not None:
            return Refused(code=JLIS_CERTIFICATE_REVOKED, reason="the certificate is revoked")
        token = await self._token(_fingerprint(certificate))
        if token is None:
            return NotFound(reason="the certificate is linked to no resident")
        return Identified(token=token)

    async def _token(self, key: str) -> str | None:
        if key in self._links:
            return self._links[key]
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self.store is None:
            return None
        doc = await self.store.get(LINKS, key)
        return str(doc["token"]) if doc else None
