"""Hypothesis against the portal's HTTP forms (aiohttp's test client, a logged-in resident):
any body, any fields, any content type, on every POST route — a 2xx, 3xx or 4xx, never a 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portal_fakes import PUBLIC, TARO, Env

POSTS = (
    "/login/complete",
    "/logout",
    "/history/00000000-0000-0000-0000-000000000000/verify",
    "/history/not-a-uuid/verify",
    "/notices/00000000-0000-0000-0000-000000000001/read",
    "/applications/new/moving",
    "/applications/new/child_allowance",
    "/applications/new/tax_return",
    "/applications/new/no_such_kind",
    "/applications/signed",
    "/applications/00000000-0000-0000-0000-000000000002/retry",
)
NAMES = (
    "to_address",
    "to_municipality",
    "moving_date",
    "child_name",
    "child_birth_date",
    "bank_account",
    "fiscal_year",
    "income",
    "deductions",
    "challenge",
    "state",
    "signature",
    "certificate",
    "cms",
    "application_id",
)
values = st.text(max_size=300) | st.sampled_from(
    ["", "2024", "131041", "2026-07-01", "-1", "9" * 40]
)
forms = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=20), values, max_size=8)
raw = st.binary(max_size=2048)
types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json",
        None,
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(POSTS), form=forms, body=st.none() | raw, content_type=types)
async def test_no_post_gets_a_server_error(
    env: Env, path: str, form: dict[str, str], body: bytes | None, content_type: str | None
) -> None:
    if env.cookie("__Host-renkei-session") is None:
        await env.login(TARO)
    data: Any = body if body is not None else urlencode({"csrf": await env.csrf(), **form})
    headers = {"Origin": PUBLIC}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with env.client.post(path, data=data, headers=headers, allow_redirects=False) as r:
        assert r.status < 500, (path, r.status, await r.text())
