"""The messages of 住基ネット (``hub/bus/juki.py``): a register's 異動等情報 and number requests
to J-LIS, J-LIS's answer, and J-LIS's 異動等失効情報 to its CA (``JukiNotice``).

No envelope and no signature: 住基ネット is a closed network whose broker vouches for each
sender (``user_id``, checked by the broker against the login), and the municipality a request
speaks for is the one of its broker user, never a field of the message. Strict, like every wire
model; a body over ``hub.bus.juki.JUKI_MAX_BYTES`` is refused before it is parsed.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, TypeVar

from pydantic import AwareDatetime, StringConstraints, ValidationError, model_validator

from hub.wire.base import WireModel
from hub.wire.exceptions import JUKI_MALFORMED, JUKI_OVERSIZED
from hub.wire.messages import Facts

__all__ = [
    "JUKI_ACTS",
    "NOTICE_KINDS",
    "JukiAnswer",
    "JukiNotice",
    "JukiRefusal",
    "JukiRequest",
    "read_juki",
]

_M = TypeVar("_M", bound=WireModel)

Rrc = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]
Number = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Day = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
EventId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Act = Literal["noted", "born", "change_number", "code_of"]
JUKI_ACTS: dict[str, tuple[str, ...]] = {  # what each act needs
    "noted": ("rrc", "facts", "reason"),  # 記載・消除・記載の修正 (住基法 第30条の6)
    "born": ("rrc", "facts", "reason", "effective", "event"),  # 番号生成要求 (番号法 第8条)
    "change_number": ("rrc", "effective", "event"),  # 第7条第2項
    "code_of": ("number",),  # the 住民票コード behind a number (a 転入届's 従前の住民票コード)
}


class JukiRequest(WireModel):
    """A register's request to J-LIS: ``act`` and what it needs, nothing else."""

    v: Literal[1]
    act: Act
    event: EventId | None = None
    rrc: Rrc | None = None
    number: Number | None = None
    facts: Facts | None = None
    reason: Reason | None = None
    effective: Day | None = None

    @model_validator(mode="after")
    def _fields_of_act(self) -> Self:
        needs = JUKI_ACTS[self.act]
        missing = [f for f in needs if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.act} needs {', '.join(missing)}")
        extra = [
            f
            for f in ("event", "rrc", "number", "facts", "reason", "effective")
            if getattr(self, f) is not None and f not in needs and f not in ("event", "effective")
        ]
        if extra:
            raise ValueError(f"{self.act} takes no {', '.join(extra)}")
        return self


class JukiAnswer(WireModel):
    """J-LIS's answer: done (with the number or the code asked for), or refused with a code."""

    v: Literal[1]
    ok: bool
    rrc: Rrc | None = None
    number: Number | None = None
    code: Annotated[str, StringConstraints(max_length=64)] | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


NoticeKind = Literal["moved", "name_changed", "died", "number_changed"]
NOTICE_KINDS: dict[str, NoticeKind] = {  # J-LIS's 異動事由 → the notice that revokes
    "転出": "moved",  # 住民票の消除
    "転居": "moved",  # 住所の記載の修正
    "氏名変更": "name_changed",  # 氏名の記載の修正
    "死亡": "died",
}


class JukiNotice(WireModel):
    """J-LIS's 異動等失効情報 to its CA (公的個人認証法 第12条): the change J-LIS recorded of the
    resident with this 住民票コード, under the register's event id (applied once), and when J-LIS
    recorded it (``at``; none in a notice of an earlier version): a notice sent late revokes no
    certificate issued after that."""

    v: Literal[1]
    event: EventId
    rrc: Rrc
    kind: NoticeKind
    at: AwareDatetime | None = None


class JukiRefusal(Exception):
    """A 住基ネット message refused before it was read: its code and the reason."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code, self.why = code, why


def read_juki(model: type[_M], body: bytes, limit: int, what: str) -> _M:
    """``body`` as ``model`` (``what`` names it in the reason), or ``JukiRefusal``:
    ``juki.oversized`` over ``limit`` bytes, unparsed; ``juki.malformed`` naming the field."""
    if len(body) > limit:
        raise JukiRefusal(
            JUKI_OVERSIZED, f"a 住基ネット message is at most {limit} bytes, not {len(body)}"
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise JukiRefusal(JUKI_MALFORMED, f"not {what} ({where}: {first['msg']})"[:300]) from None
