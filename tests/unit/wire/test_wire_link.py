"""The token channel's protocol (hub.wire.link), pure: frames, hellos and proofs — forged,
replayed, reflected, oversized and malformed ones refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.wire import BadSignature, MalformedMessage, MessageTooLarge, OfficeKeys, PublicKeys
from hub.wire.link import (
    CHALLENGE,
    HEADER,
    HELLO,
    HUB_HELLO,
    MAGIC,
    MAX_FRAME,
    challenge,
    frame,
    hello,
    hub_hello,
    open_hub_hello,
    parse_header,
    parse_hello,
    prove,
    verify_proof,
)

HUB_KEYS, TOKEN_KEYS, OFFICE_KEYS = (
    OfficeKeys.generate(),
    OfficeKeys.generate(),
    OfficeKeys.generate(),
)
HUB, TOKEN = HUB_KEYS.public, TOKEN_KEYS.public


@given(st.integers(0, 2**32 - 1), st.binary(max_size=2048))
def test_a_frame_round_trips(request_id: int, body: bytes) -> None:
    data = frame(request_id, body)
    assert parse_header(data[: HEADER.size]) == (len(body), request_id)
    assert data[HEADER.size :] == body


def test_a_frame_over_the_limit_is_neither_made_nor_read() -> None:
    with pytest.raises(MessageTooLarge):
        frame(1, bytes(MAX_FRAME + 1))
    assert parse_header(HEADER.pack(MAX_FRAME, 7)) == (MAX_FRAME, 7)
    for length in (MAX_FRAME + 1, 2**32 - 1):
        with pytest.raises(MessageTooLarge):
            parse_header(HEADER.pack(length, 7))
    with pytest.raises(MessageTooLarge):
        parse_header(HEADER.pack(HUB_HELLO + 1, 0), HUB_HELLO)


def test_the_servers_hello() -> None:
    server = challenge()
    assert len(server) == CHALLENGE and server != challenge()
    assert parse_hello(hello(server)) == server and len(hello(server)) == HELLO
    for bad in (b"", MAGIC, hello(server)[:-1], hello(server) + b"x", b"x" * HELLO):
        with pytest.raises(MalformedMessage):
            parse_hello(bad)


def test_the_hubs_hello_proves_the_hub() -> None:
    server = challenge()
    data, client = hub_hello(server, HUB_KEYS.signing)
    assert parse_header(data[: HEADER.size]) == (HUB_HELLO, 0)
    assert open_hub_hello(server, data[HEADER.size :], HUB) == client


def test_an_offices_key_is_not_the_hubs() -> None:
    """A dishonest office signs the hello with its own key: refused."""
    server = challenge()
    data, _ = hub_hello(server, OFFICE_KEYS.signing)
    with pytest.raises(BadSignature):
        open_hub_hello(server, data[HEADER.size :], HUB)


def test_a_hello_of_another_connection_is_refused() -> None:
    """A hello recorded from the wire is worth nothing on a new connection (a new challenge)."""
    data, _ = hub_hello(challenge(), HUB_KEYS.signing)
    with pytest.raises(BadSignature):
        open_hub_hello(challenge(), data[HEADER.size :], HUB)


def test_an_altered_hello_is_refused() -> None:
    server = challenge()
    body = bytearray(hub_hello(server, HUB_KEYS.signing)[0][HEADER.size :])
    for at in (0, CHALLENGE - 1, CHALLENGE, HUB_HELLO - 1):  # the challenge, the signature
        altered = bytearray(body)
        altered[at] ^= 1
        with pytest.raises(BadSignature):
            open_hub_hello(server, bytes(altered), HUB)


@pytest.mark.parametrize("size", [0, CHALLENGE, HUB_HELLO - 1, HUB_HELLO + 1, 4096])
def test_a_hello_of_the_wrong_size_is_malformed(size: int) -> None:
    with pytest.raises(MalformedMessage):
        open_hub_hello(challenge(), bytes(size), HUB)


def test_proofs_are_bound_to_the_role() -> None:
    """The token service's proof is not the hub's (no reflection), nor the hub's the token's."""
    server, client = challenge(), challenge()
    mine = prove("token", server, client, TOKEN_KEYS.signing)
    verify_proof("token", server, client, mine, TOKEN)
    with pytest.raises(BadSignature):
        verify_proof("hub", server, client, mine, TOKEN)
    with pytest.raises(BadSignature):
        verify_proof("token", client, server, mine, TOKEN)  # the challenges swapped
    with pytest.raises(BadSignature):
        verify_proof("token", server, client, mine[:-1], TOKEN)


def test_the_hubs_earlier_key_is_accepted_while_it_rotates() -> None:
    new = OfficeKeys.generate()
    rotating = PublicKeys(new.signing.public_key(), new.sealing.public_key(), (HUB.verify,))
    server = challenge()
    for keys in (HUB_KEYS, new):
        data, client = hub_hello(server, keys.signing)
        assert open_hub_hello(server, data[HEADER.size :], rotating) == client
