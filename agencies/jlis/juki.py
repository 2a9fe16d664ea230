"""J-LIS on 住基ネット (全国サーバ): the registers' 異動等情報 and number requests in, its answers
out.

One queue, ``juki.jlis`` (``hub/bus/juki.py``). The municipality a request speaks for is the
one of the register whose broker user sent it (``user_id``, vouched for by the broker; the
message names none), so a register cannot note, number or renumber for another municipality:
J-LIS refuses a change to a record another municipality keeps (``jlis.not_the_municipality``;
a 転入 takes it up). A message that is too long, not JSON of a request, or from no register is
refused with a clear reason (``juki.oversized``, ``juki.malformed``, ``juki.unknown_sender``):
answered where there is a register to answer, logged, and kept as a dead letter in the
vhost's ``renkei.dead``. Each act is J-LIS's own (``registry.Jlis``): kept once per event id, so
a redelivered or repeated request is answered alike and applied once.

A change J-LIS records that lapses a certificate (a 転出, 転居, 氏名変更 or 死亡 noted, a number
changed) it passes on to its CA as 異動等失効情報 (公的個人認証法 第12条; ``JukiNotice``, by the
住民票コード, under the register's event id, with the time J-LIS recorded it). The notice is
kept in J-LIS's outbox (``outbox.py``, its own store) before the register is answered, and sent
from there on ``juki.out`` to the CA's queue ``juki.<ca>.notices`` when the CA can take it: the
register's answer never waits on the CA (down, or its queue full), and nothing is lost. A
request delivered again keeps the notice again (the same row); a notice sent twice the CA
applies once (``pki/ca/juki.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from agencies.jlis.outbox import NoticeSender, Outbox
from agencies.jlis.registry import Jlis
from hub.bus import Bus, Delivery, OutMessage, Subscription
from hub.bus.juki import JUKI_JLIS, JUKI_MAX_BYTES, JUKI_OUT, juki_office, juki_replies
from hub.log import get_logger
from hub.node import OfficeError
from hub.wire.exceptions import JUKI_UNKNOWN_SENDER
from hub.wire.juki import NOTICE_KINDS, JukiAnswer, JukiNotice, JukiRefusal, JukiRequest, read_juki

__all__ = ["JukiServer"]

log = get_logger("agencies.jlis.juki")


class JukiServer:
    """J-LIS's consumer of ``juki.jlis``: ``registers`` maps each register's office code to
    its municipality (6-digit code); ``ca``: its CA's office code, told of what revokes
    (through the outbox in J-LIS's store and its sender)."""

    def __init__(
        self, jlis: Jlis, bus: Bus, registers: Mapping[str, str], ca: str | None = None
    ) -> None:
        self.jlis, self.bus, self.registers = jlis, bus, dict(registers)
        self.outbox = None if ca is None else Outbox(jlis.store, ca)
        self.sender = None if self.outbox is None else NoticeSender(self.outbox, bus)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        if self.sender is not None:
            await self.sender.start()
        self._sub = await self.bus.consume(JUKI_JLIS, self.handle, prefetch=50)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.cancel()
            self._sub = None
        if self.sender is not None:
            await self.sender.stop()

    async def handle(self, d: Delivery) -> None:
        register = juki_office(d.user_id)
        municipality = self.registers.get(register or "")
        if register is None or municipality is None:
            await self._refuse(d, None, JUKI_UNKNOWN_SENDER, "not a register of 住基ネット")
            return
        try:
            request = read_juki(JukiRequest, d.body, JUKI_MAX_BYTES, "a 住基ネット request")
        except JukiRefusal as r:
            await self._refuse(d, register, r.code, r.why)
            return
        try:
            answer = await self._act(request, municipality)
        except OfficeError as exc:
            log.info("juki.refused", act=request.act, register=register, code=exc.code)
            answer = JukiAnswer(v=1, ok=False, code=exc.code, reason=str(exc)[:500])
        if answer.ok:
            await self._keep_notice(request, d.message_id)
        await self._answer(d, register, answer)
        await d.ack()
        log.info("juki.request", act=request.act, register=register, ok=answer.ok)

    async def _act(self, r: JukiRequest, municipality: str) -> JukiAnswer:
        if r.act == "code_of":
            assert r.number is not None  # the model saw to it
            return JukiAnswer(v=1, ok=True, rrc=self.jlis.code_of(r.number))
        assert r.rrc is not None
        on = None if r.effective is None else dt.date.fromisoformat(r.effective)
        if r.act == "born":
            assert r.facts is not None
            assert r.reason is not None
            assert on
            assert r.event
            number = await self.jlis.born(
                r.rrc, r.facts, municipality=municipality, effective=on, event=r.event,
                reason=r.reason,
            )  # fmt: skip
            return JukiAnswer(v=1, ok=True, number=number)
        if r.act == "change_number":
            assert on is not None
            assert r.event is not None
            number = await self.jlis.change_number(
                r.rrc, municipality=municipality, on=on, event=r.event
            )
            return JukiAnswer(v=1, ok=True, number=number)
        assert r.facts is not None
        assert r.reason is not None
        await self.jlis.noted(
            r.rrc, r.facts, municipality=municipality, reason=r.reason, effective=on,
            event=r.event,
        )  # fmt: skip
        return JukiAnswer(v=1, ok=True)

    async def _keep_notice(self, r: JukiRequest, message_id: str) -> None:
        """The 異動等失効情報 of a change that lapses a certificate, kept for the CA before the
        register's answer (a stop in between is a redelivery: kept again, the same row)."""
        kind = "number_changed" if r.act == "change_number" else NOTICE_KINDS.get(r.reason or "")
        if self.outbox is None or kind is None or r.act not in ("noted", "change_number"):
            return
        assert r.rrc is not None
        event = r.event or str(uuid.uuid5(uuid.NAMESPACE_URL, f"juki:{message_id}"))
        recorded = dt.datetime.now(dt.UTC).replace(microsecond=0)
        await self.outbox.keep(JukiNotice(v=1, event=event, rrc=r.rrc, kind=kind, at=recorded))
        assert self.sender is not None
        self.sender.wake()

    async def _answer(self, d: Delivery, register: str, answer: JukiAnswer) -> None:
        body = answer.model_dump_json(exclude_none=True).encode()
        out = OutMessage(body, message_id=f"re-{d.message_id}"[:120], correlation_id=d.message_id)
        await self.bus.publish(JUKI_OUT, juki_replies(register), out)

    async def _refuse(self, d: Delivery, register: str | None, code: str, why: str) -> None:
        log.warning("juki.refused", code=code, sender=d.user_id, why=why)
        if register is not None:
            await self._answer(d, register, JukiAnswer(v=1, ok=False, code=code, reason=why))
        await d.dead_letter(f"{code}: {why}"[:200])
