"""Command APDUs (``card_service.card.apdu``): parse → a command that encodes back to the same
bytes, or ApduError."""

from fuzzlib import fuzz, instrumented

with instrumented():
    from card_service.card.apdu import Command
    from card_service.exceptions import ApduError


def one_input(data: bytes) -> None:
    assert Command.parse(data).encode() == data


if __name__ == "__main__":
    fuzz(one_input, (ApduError,))
