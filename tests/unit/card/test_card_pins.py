"""The PIN rules, checked before a PIN is sent (no try spent on an impossible PIN)."""

from __future__ import annotations

import pytest

from card_service import PinFormatError, PinRule, check_pin


@pytest.mark.parametrize(
    ("rule", "pin", "ok"),
    [
        (PinRule.AUTH, "1234", True),
        (PinRule.AUTH, "0000", True),
        (PinRule.AUTH, "123", False),
        (PinRule.AUTH, "12345", False),
        (PinRule.AUTH, "12a4", False),
        (PinRule.AUTH, "１２３４", False),  # full-width digits
        (PinRule.AUTH, "", False),
        (PinRule.SIGN, "ABC123", True),
        (PinRule.SIGN, "A1B2C3D4E5F6G7H8", True),  # 16
        (PinRule.SIGN, "A1B2C3D4E5F6G7H8I", False),  # 17
        (PinRule.SIGN, "AB123", False),  # 5
        (PinRule.SIGN, "ABCDEF", False),  # no digit
        (PinRule.SIGN, "123456", False),  # no letter
        (PinRule.SIGN, "abc123", False),  # lower case
        (PinRule.SIGN, "ABC-123", False),
        (PinRule.FACE, "9876", True),
        (PinRule.FACE, "98765", False),
    ],
)
def test_rules(rule: PinRule, pin: str, ok: bool) -> None:
    assert rule.accepts(pin) is ok
    if ok:
        assert check_pin(rule, pin) == pin.encode()
    else:
        with pytest.raises(PinFormatError, match=rule.label):
            check_pin(rule, pin)


def test_the_message_names_the_rule_and_hints_at_capitals() -> None:
    with pytest.raises(PinFormatError) as exc:
        check_pin(PinRule.SIGN, "abc123")
    assert "at least one letter and one digit" in exc.value.message
    assert "use capital letters" in exc.value.message
    assert exc.value.code == "card.pin_format"


def test_tries() -> None:
    assert [r.max_tries for r in PinRule] == [3, 5, 3]
