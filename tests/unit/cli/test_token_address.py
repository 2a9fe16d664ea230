"""RENKEI_TOKEN_ADDRESS and ``renkei run token --listen``: the token channel's addresses, and
what is refused before anything starts."""

from __future__ import annotations

import pytest
from cli_runner import Run
from pydantic import ValidationError

from renkei.settings import TOKEN_PORT, Settings, parse_addresses


def test_addresses_are_read_as_host_and_port() -> None:
    assert parse_addresses("127.0.0.1:8460") == [("127.0.0.1", 8460)]
    assert parse_addresses("tok-1:9000, tok-2:9001,") == [("tok-1", 9000), ("tok-2", 9001)]
    assert parse_addresses("token") == [("token", TOKEN_PORT)]
    assert parse_addresses("[::1]:8460") == [("::1", 8460)]
    assert Settings(_env_file=None).token_addresses == [("127.0.0.1", TOKEN_PORT)]  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "text", ["", ",", ":8460", "host:", "host:port", "host:99999", "host:-1", "a:1,b:x"]
)
def test_what_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="address"):
        parse_addresses(text)
    with pytest.raises(ValidationError):
        Settings(_env_file=None, token_address=text)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("listen", "why"),
    [("nowhere:port", "not a host:port address"), ("a:1,b:2", "--listen takes one address")],
)
def test_run_token_refuses_a_listen_that_is_not_one_address(
    renkei: Run, listen: str, why: str
) -> None:
    code, _, err = renkei("run", "token", "--listen", listen)
    assert code == 2 and why in err
