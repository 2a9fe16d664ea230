"""J-LIS's CA on 住基ネット: J-LIS's 異動等失効情報 in, revocations out (公的個人認証法 第12条).

One queue, ``juki.<ca>.notices`` (``hub/bus/juki.py``), which J-LIS alone may write (through
``juki.out``) and the CA's own broker user ``juki-<ca>`` alone reads. A notice names the
resident by the 住民票コード the 市町村長's issuance application gave for each certificate
(``CertificationAuthority.issue(code=…)``); the CA revokes what the change calls for
(``pki.revocations_for``: a move or a change of name the signature certificate, a death or a
number change both), recorded when it learns of it, once per event id (a notice delivered
again revokes nothing more). A message too long, not a notice, or not vouched for by J-LIS's
user is refused (``juki.oversized``, ``juki.malformed``, ``juki.unknown_sender``), logged and
kept as a dead letter in the vhost's ``renkei.dead``.
"""

from __future__ import annotations

from hub.bus import Bus, Delivery, Subscription
from hub.bus.juki import JUKI_MAX_BYTES, juki_identity, juki_notices
from hub.log import get_logger
from hub.wire.exceptions import JUKI_UNKNOWN_SENDER
from hub.wire.juki import JukiNotice, JukiRefusal, read_juki
from pki.ca.authority import CertificationAuthority
from pki.ca.revocation import EventKind

__all__ = ["CaNotices"]

log = get_logger("pki.ca.juki")


class CaNotices:
    """The CA's consumer of J-LIS's notices: ``ca`` its office code, ``jlis`` J-LIS's."""

    def __init__(self, ca: CertificationAuthority, bus: Bus, *, code: str, jlis: str) -> None:
        self.ca, self.bus, self.code, self.jlis = ca, bus, code, juki_identity(jlis)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.bus.consume(juki_notices(self.code), self.handle, prefetch=50)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.cancel()
            self._sub = None

    async def handle(self, d: Delivery) -> None:
        if d.user_id != self.jlis:
            await _refuse(d, JUKI_UNKNOWN_SENDER, "not J-LIS's user of 住基ネット")
            return
        try:
            notice = read_juki(JukiNotice, d.body, JUKI_MAX_BYTES, "a notice")
        except JukiRefusal as r:
            await _refuse(d, r.code, r.why)
            return
        revoked = self.ca.apply_notice(
            EventKind(notice.kind), notice.rrc, notice.event, recorded=notice.at
        )
        await d.ack()
        log.info(
            "pki.notice",
            kind=notice.kind,
            again=revoked is None,
            revoked=0 if revoked is None else len(revoked),
        )


async def _refuse(d: Delivery, code: str, why: str) -> None:
    log.warning("juki.refused", code=code, sender=d.user_id, why=why)
    await d.dead_letter(f"{code}: {why}"[:200])
