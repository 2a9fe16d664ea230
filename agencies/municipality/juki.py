"""A municipality's register on 住基ネット (its CS): J-LIS asked over the network of its own.

:class:`JukiLink` is the register desk's ``JlisRegister`` over 住基ネット (``hub/bus/juki.py``):
each call is a :class:`JukiRequest` published to ``juki.in`` as the register's own broker user
(which is how J-LIS knows the municipality), answered on the register's reply queue by
correlation id. A refusal is raised as J-LIS's own code (``jlis.deceased`` …); no answer in
time is ``office.timed_out`` — the desk's "unconfirmed", retried under the same event id, which
J-LIS applies once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any, Final

from pydantic import ValidationError

from agencies.exceptions import REGISTER_JUKI_ANSWER
from agencies.jlis.exceptions import MalformedNumber
from hub.bus import Bus, Delivery, OutMessage, Subscription
from hub.bus.juki import JUKI_IN, JUKI_JLIS, juki_office, juki_replies
from hub.log import get_logger
from hub.node import OFFICE_TIMED_OUT, OfficeError
from hub.wire import Facts
from hub.wire.exceptions import JUKI_UNKNOWN_SENDER
from hub.wire.juki import JukiAnswer, JukiRequest

__all__ = ["JukiLink"]

log = get_logger("agencies.municipality.juki")
_JLIS: Final = "jlis"


class JukiLink:
    """The register ``office``'s link to J-LIS over 住基ネット (``bus``: its 住基ネット user)."""

    def __init__(self, office: str, bus: Bus, *, timeout: float = 10.0, jlis: str = _JLIS) -> None:
        self.office, self.bus, self.timeout, self.jlis = office, bus, timeout, jlis
        self._waiting: dict[str, asyncio.Future[JukiAnswer]] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.bus.consume(juki_replies(self.office), self._answered)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.cancel()
            self._sub = None
        for waiting in self._waiting.values():
            waiting.cancel()

    async def _answered(self, d: Delivery) -> None:
        waiting = self._waiting.get(d.correlation_id or "")
        if juki_office(d.user_id) != self.jlis:
            log.warning("juki.answer_refused", why="not from J-LIS", sender=d.user_id)
            await d.dead_letter(f"{JUKI_UNKNOWN_SENDER}: an answer not from J-LIS")
            return
        try:
            answer = JukiAnswer.model_validate_json(d.body)
        except ValidationError:
            log.warning("juki.answer_refused", why="malformed")
            await d.dead_letter(f"{REGISTER_JUKI_ANSWER}: not an answer of J-LIS")
            return
        if waiting is not None and not waiting.done():
            waiting.set_result(answer)
        await d.ack()  # an answer no one waits for (a retry's first copy): done with

    async def _ask(self, **fields: Any) -> JukiAnswer:
        request = JukiRequest(v=1, **fields)
        mid = str(uuid.uuid4())
        waiting = self._waiting[mid] = asyncio.get_running_loop().create_future()
        try:
            body = request.model_dump_json(exclude_none=True).encode()
            await self.bus.publish(JUKI_IN, JUKI_JLIS, OutMessage(body, message_id=mid))
            answer: JukiAnswer = await asyncio.wait_for(waiting, self.timeout)
        except TimeoutError:
            raise OfficeError(
                OFFICE_TIMED_OUT, f"J-LIS did not answer the {request.act} over 住基ネット in time"
            ) from None
        finally:
            self._waiting.pop(mid, None)
        if not answer.ok:
            raise OfficeError(answer.code or REGISTER_JUKI_ANSWER, answer.reason or "refused")
        return answer

    async def noted(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        reason: str = "転入",
        effective: dt.date | None = None,
        event: str | None = None,
    ) -> None:
        """住基法 第30条の6: the 記載, 消除 or 記載の修正, to J-LIS (``municipality`` is not
        sent: J-LIS knows it from this register's broker user)."""
        await self._ask(
            act="noted", rrc=rrc, facts=facts, reason=reason, event=event,
            effective=None if effective is None else effective.isoformat(),
        )  # fmt: skip

    async def born(
        self,
        rrc: str,
        facts: Facts,
        *,
        municipality: str,
        effective: dt.date,
        event: str,
        reason: str = "出生",
    ) -> str:
        """番号法 第8条: J-LIS generates the number for a new 住民票コード."""
        answer = await self._ask(
            act="born", rrc=rrc, facts=facts, reason=reason, event=event,
            effective=effective.isoformat(),
        )  # fmt: skip
        return _number(answer)

    async def code_of(self, number: str) -> str:
        """The 住民票コード behind a number (a 転入届's 従前の住民票コード)."""
        if len(number) != 12 or not number.isascii() or not number.isdigit():
            raise OfficeError(MalformedNumber.code, "an individual number is 12 digits")
        answer = await self._ask(act="code_of", number=number)
        if answer.rrc is None:
            raise OfficeError(REGISTER_JUKI_ANSWER, "J-LIS answered without the code")
        return answer.rrc

    async def change_number(self, rrc: str, *, municipality: str, on: dt.date, event: str) -> str:
        """番号法 第7条第2項: the next number, from J-LIS."""
        answer = await self._ask(
            act="change_number", rrc=rrc, effective=on.isoformat(), event=event
        )
        return _number(answer)


def _number(answer: JukiAnswer) -> str:
    if answer.number is None:
        raise OfficeError(REGISTER_JUKI_ANSWER, "J-LIS answered without the number")
    return answer.number
