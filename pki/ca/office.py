"""The certification authority's office on the network (``jlis-pki``): J-LIS names the holder
of an authentication certificate for the portal.

The CA enrolls (as office ``jlis-pki``) each person it certifies and files their certificates
under that token (``holder_for``). Revocation does not follow the hub: J-LIS passes its
異動等失効情報 to the CA over 住基ネット (``pki/ca/juki.py``, by the 住民票コード given at
issuance), and the register's change events the hub still delivers to the CA as a holder are
heard and left (``changed``) — but for a holder whose certificates carry no 住民票コード
(issued before the CA kept codes: a deployment upgraded across the 住基ネット split), which
J-LIS's notices cannot reach: for them the hub's event revokes, as it did before, recorded when
the CA learns of it.
When it issues a certificate to such a holder, J-LIS keeps the link from the certificate to
its own token (in its own store; the link never leaves it): a portal login or the portal's
check of who signed an application (``Identify``) gets back ``Identified`` with that token,
which the hub translates for the portal — so no certificate serial becomes anyone else's
matching key. The link is written after ``issue`` returns (its hooks are called in it, and it
is not a coroutine); a write that fails (the store's session cut, PostgreSQL restarting) is
logged and tried again, ``retry`` seconds later and doubling up to ``retry_max``, until it is
written, and the link is held in memory until then. The CA's ``POST /certificates`` waits for
it (``linked``): a certificate is handed out only once its link is durable, so a CA stopped
meanwhile loses no card's logins — the desk got no certificate, and asks again.
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
from hub.node.backoff import Backoff, until_done
from hub.wire import JLIS_PKI, Change, Identified, NotFound, Outcome, Refused
from pki.ca.authority import CertificationAuthority, Issued
from pki.ca.revocation import EventKind, ResidentEvent
from pki.cms import load_certificate
from pki.exceptions import JLIS_BAD_CERTIFICATE, JLIS_CERTIFICATE_REVOKED, Unavailable

__all__ = ["PKI_OFFICE", "CaListener", "holder_for"]

PKI_OFFICE = JLIS_PKI  # the CA's office on the network
LINKS = "certificate_links"
_PREFIX = "t:"
log = get_logger("pki.ca.office")
_UNCODED_EVENTS: dict[str, EventKind] = {  # the hub's events that revoke an uncoded holder's
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


def _der(issued: Issued) -> bytes:
    return issued.certificate.public_bytes(serialization.Encoding.DER)


class CaListener:
    """``jlis-pki``'s office code: certificates → holders (revocation: ``pki/ca/juki.py``)."""

    def __init__(
        self,
        ca: CertificationAuthority,
        store: OfficeStore | None = None,
        *,
        retry: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self.ca = ca
        self.store = store
        self.retry, self.retry_max = retry, retry_max  # a link's write tried again (module)
        self._links: dict[str, str] = {}  # with a store: the links not yet written to it
        self._writes: dict[str, asyncio.Task[None]] = {}  # by link key: being written
        self._closed = False
        ca.on_issue.append(self._issued)

    async def changed(
        self, person: str, change: Change, effective: dt.date, detail: dict[str, str]
    ) -> None:
        """A register's change event, delivered to the CA as a holder: left. The CA revokes
        from J-LIS's 異動等失効情報 over 住基ネット (公的個人認証法 第12条), not from the hub —
        but for a holder with no 住民票コード on file, whom no notice reaches (see the module)."""
        holder, kind = holder_for(person), _UNCODED_EVENTS.get(change)
        if kind is None or not self.ca.uncoded(holder):
            log.info("pki.change_left", change=change)
            return
        revoked = self.ca.apply_event(ResidentEvent(kind, holder, self.ca.now()))
        log.info("pki.change_uncoded", change=change, revoked=len(revoked))

    async def close(self) -> None:
        """Stop hearing of issued certificates; wait for the links being written, ``retry_max``
        seconds at most (each is tried once more): one still unwritten then is lost, and said
        so in an error line (that card's logins will find no one)."""
        self._closed = True
        if self._issued in self.ca.on_issue:
            self.ca.on_issue.remove(self._issued)
        if self._writes:
            _, left = await asyncio.wait(set(self._writes.values()), timeout=self.retry_max)
            for task in left:
                task.cancel()
            if left:
                await asyncio.gather(*left, return_exceptions=True)
                log.error("pki.links_lost", links=len(left))

    async def linked(self, issued: Issued) -> None:
        """Return once the link of ``issued`` (if it has one) is in the store: at once without
        a store; a write that fails goes on being tried (the caller waits on, or gives up —
        the write does not). ``Unavailable`` once the office is closed (it hears of no
        certificate then) or its close gave the write up: nothing may be handed out."""
        if self._closed:  # no longer hearing of certificates: this one has no link at all
            raise Unavailable("J-LIS's office is stopped: the certificate's link is unwritten")
        task = self._writes.get(_fingerprint(_der(issued)))
        if task is None:
            return
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and (me is None or not me.cancelling()):  # close gave it up
                raise Unavailable("J-LIS's office stopped before the link was written") from None
            raise

    def _issued(self, issued: Issued, holder: str) -> None:
        if not holder.startswith(_PREFIX):
            return
        key, token = _fingerprint(_der(issued)), holder.removeprefix(_PREFIX)
        self._links[key] = token
        if key in self._writes:  # asked again while its first write goes on: that one
            return
        if self.store is not None:  # with a store, the store is the one copy once written
            task = asyncio.get_running_loop().create_task(self._write(self.store, key, token))
            self._writes[key] = task
            task.add_done_callback(lambda _: self._writes.pop(key, None))

    async def _write(self, store: OfficeStore, key: str, token: str) -> None:
        """Write a link until it is written (a lost link: that card's logins find no one)."""

        def failed(exc: Exception, pause: float) -> None:
            log.warning("pki.link_unwritten", error=repr(exc), retry_in=pause)

        await until_done(
            lambda: store.put_many(LINKS, [(key, None, {"token": token})]),
            failed,
            Backoff(first=self.retry, most=self.retry_max),
        )
        self._links.pop(key, None)

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
        if self.store is None:
            return None
        doc = await self.store.get(LINKS, key)
        return str(doc["token"]) if doc else None
