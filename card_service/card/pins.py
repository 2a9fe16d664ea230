"""The three PINs' rules, pure. Checked by the card (CHANGE, SET) and by the client before a
PIN is sent, so a PIN that cannot be right never spends a try.

| PIN | rule | tries |
|---|---|---|
| authentication (利用者証明用) | 4 digits | 3 |
| signature (署名用) | 6–16 of A–Z and 0–9, at least one letter and one digit | 5 |
| card-face input support (券面事項入力補助用) | 4 digits | 3 |
"""

from __future__ import annotations

import re
from enum import Enum

from card_service.exceptions import PinFormatError

__all__ = ["PinRule", "check_pin"]

_DIGITS4 = re.compile(r"[0-9]{4}")
_SIGN = re.compile(r"(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*[0-9])[A-Z0-9]{6,16}")


class PinRule(Enum):
    AUTH = ("authentication PIN", "4 digits", 3)
    SIGN = (
        "signature PIN",
        "6 to 16 capital letters A-Z and digits 0-9, with at least one letter and one digit",
        5,
    )
    FACE = ("card-face input support PIN", "4 digits", 3)

    def __init__(self, label: str, rule: str, tries: int) -> None:
        self.label = label
        self.rule = rule
        self.max_tries = tries

    def accepts(self, pin: str) -> bool:
        pattern = _SIGN if self is PinRule.SIGN else _DIGITS4
        return pattern.fullmatch(pin) is not None


def check_pin(rule: PinRule, pin: str) -> bytes:
    """The PIN as the card receives it (ASCII), or :class:`PinFormatError` naming the rule."""
    if rule.accepts(pin):
        return pin.encode("ascii")
    hint = ""
    if rule is PinRule.SIGN and rule.accepts(pin.upper()):
        hint = " (use capital letters)"
    raise PinFormatError(f"the {rule.label} must be {rule.rule}{hint}")
