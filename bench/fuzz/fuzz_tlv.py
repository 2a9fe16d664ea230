"""BER-TLV (``card_service.card.tlv``): decode → items that encode back, or TlvError."""

from fuzzlib import fuzz, instrumented

with instrumented():
    from card_service.card import tlv
    from card_service.exceptions import TlvError


def one_input(data: bytes) -> None:
    for item in tlv.decode(data):
        assert tlv.decode_one(tlv.encode(item.tag, item.value))[0].value == item.value


if __name__ == "__main__":
    fuzz(one_input, (TlvError,))
