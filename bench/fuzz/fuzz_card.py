"""The emulated card (``card_service.card.machine``) behind the reader: any sequence of APDUs
to an issued card gets a status word each, never an exception. The input is split into APDUs
at each length byte (the first byte of each chunk says how many bytes follow)."""

import sys

from fuzzlib import ROOT, fuzz, instrumented

sys.path.insert(0, str(ROOT / "tests" / "unit" / "card"))  # the unit tests' issued card

with instrumented():
    from card_service import Card

import card_helpers

card_helpers.fresh_state()  # issue the card once, before fuzzing


def one_input(data: bytes) -> None:
    card = Card(card_helpers.fresh_state())
    i = 0
    while i < len(data):
        n = data[i]
        answer = card.process(data[i + 1 : i + 1 + n])
        assert len(answer) >= 2
        i += 1 + n
    for app in card.state.apps.values():
        for record in app.pins.values():
            assert 0 <= record.tries_left <= 5


if __name__ == "__main__":
    fuzz(one_input, ())
