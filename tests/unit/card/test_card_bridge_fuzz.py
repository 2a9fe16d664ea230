"""Hypothesis against the card bridge's HTTP forms (aiohttp's test client, an issued card in
memory): any body, any fields, on every POST route, from the portal's origin or another — a 2xx
or 4xx, never a 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_card_bridge import LOGIN_DONE, PORTAL, SIGN_DONE, Bridge, bridge  # noqa: F401

from card_service.bridge.forms import b64url

NAMES = ("challenge", "return_to", "state", "document", "summary", "nonce", "pin", "password")
values = (
    st.text(max_size=300)
    | st.binary(max_size=300).map(b64url)
    | st.sampled_from(["", LOGIN_DONE, SIGN_DONE, "javascript:alert(1)", "=" * 5, "A" * 5000])
)
forms = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=20), values, max_size=8)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/login", "/sign", "/login/confirm", "/sign/confirm", "/"]),
    form=forms,
    body=st.none() | st.binary(max_size=2048),
    origin=st.sampled_from([PORTAL, "null", "https://evil.example", None]),
)
async def test_no_post_gets_a_server_error(
    bridge: Bridge,  # noqa: F811 - the fixture of test_card_bridge
    path: str,
    form: dict[str, str],
    body: bytes | None,
    origin: str | None,
) -> None:
    data: Any = body if body is not None else urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin
    async with bridge.http.post(path, data=data, headers=headers) as r:
        assert r.status < 500, (path, r.status, await r.text())
