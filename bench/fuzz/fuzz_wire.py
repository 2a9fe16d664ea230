"""The envelope codec (``hub.wire``): any bytes an office publishes, as the hub reads them.

decode → a message or WireError; a decoded message encodes and decodes to itself."""

from fuzzlib import fuzz, instrumented

with instrumented():
    from hub.wire import WireError, decode, encode


def one_input(data: bytes) -> None:
    msg = decode(data)
    assert decode(encode(msg)) == msg


if __name__ == "__main__":
    fuzz(one_input, (WireError,))
