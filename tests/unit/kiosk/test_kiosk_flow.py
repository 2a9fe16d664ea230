"""The kiosk's pure parts: the keypad, the menu (each choice an order the centre takes), and
the words of each screen."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencies.exceptions import ISSUANCE_SUPPORT_MEASURE
from issuance.exceptions import ISSUANCE_CARD_REFUSED
from issuance.rules import KINDS, order
from kiosk.exceptions import FormRefused
from kiosk.flow import MENU, PIN_LENGTH, SCREENS, Transaction, press, refusal_screen, wrong_pin
from renkei.kiosk_commands import REFUSALS, own_origin

NOON = dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)
KEYS = [*"0123456789", "clear"]


@given(st.lists(st.sampled_from(KEYS), max_size=30))
def test_the_keypad_holds_at_most_four_digits_and_clear_empties_it(keys: list[str]) -> None:
    digits = ""
    for key in keys:
        digits = press(digits, key)
        assert (len(digits) <= PIN_LENGTH and digits.isdigit()) or digits == ""
    if keys and keys[-1] == "clear":
        assert digits == ""


@pytest.mark.parametrize("key", ["", "a", "12", "ok", "-1", "０", "١"])
def test_what_is_not_a_key_is_refused(key: str) -> None:
    with pytest.raises(FormRefused):
        press("12", key)


@pytest.mark.parametrize("choice", list(MENU))
def test_each_menu_choice_is_an_order_the_centre_takes(choice: str) -> None:
    made = MENU[choice]
    taken = order(made.kind, made.options, NOON)
    assert taken.kind is KINDS[made.kind]
    assert made.label == KINDS[made.kind].ja  # the button says what the centre prints


def test_every_certificate_the_centre_issues_is_on_the_menu() -> None:
    assert {c.kind for c in MENU.values()} == set(KINDS)


def test_the_screens_words() -> None:
    assert wrong_pin(2) == "暗証番号が違います。残り 2 回です。"
    assert "次に間違えるとロックされます" in wrong_pin(1)
    assert "支援措置" in refusal_screen(ISSUANCE_SUPPORT_MEASURE, "", REFUSALS).text
    assert "失効" in refusal_screen(ISSUANCE_CARD_REFUSED, "", REFUSALS).text
    unknown = refusal_screen("municipality.other", "窓口でお申し込みください", REFUSALS)
    assert unknown.text == "窓口でお申し込みください"
    assert refusal_screen("x", "", REFUSALS).text  # never an empty screen


def test_each_refusal_the_composition_root_names_has_its_screen() -> None:
    assert set(REFUSALS.values()) == set(SCREENS)


def test_a_transaction_ends_after_idle_time() -> None:
    tx = Transaction(tries=3, at=100.0)
    assert not tx.expired(100.0 + 60)
    assert tx.expired(100.0 + 3600)
    assert Transaction(tries=3, at=0).token != tx.token


@pytest.mark.parametrize(
    ("host", "public", "origin"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:8491"),
        ("0.0.0.0", None, "http://127.0.0.1:8491"),  # a wildcard is reached on loopback
        ("::", None, "http://127.0.0.1:8491"),
        ("::1", None, "http://[::1]:8491"),
        ("kiosk.store", None, "http://kiosk.store:8491"),
        ("0.0.0.0", "https://kiosk.example", "https://kiosk.example"),
    ],
)
def test_the_kiosks_own_origin(host: str, public: str | None, origin: str) -> None:
    assert own_origin(host, 8491, public) == origin
