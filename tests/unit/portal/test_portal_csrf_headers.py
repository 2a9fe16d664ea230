"""CSRF on every state-changing request, security headers on every response, body limits."""

from __future__ import annotations

import pytest
from portal_fakes import BRIDGE, PUBLIC, TARO, Env, access

from portal.csrf import origin_allowed, origin_of

PAGES = ["/", "/history", "/me", "/notices", "/applications", "/applications/new/moving"]


async def test_missing_or_wrong_token_is_403(env: Env) -> None:
    await env.login(TARO)
    for data in ({}, {"csrf": "wrong"}):
        response = await env.client.post(
            "/logout", data=data, headers={"Origin": PUBLIC}, allow_redirects=False
        )
        assert response.status == 403
        assert "cross-site request refused" in await response.text()
    assert (await env.client.get("/history")).status == 200  # still logged in


async def test_cross_origin_or_no_origin_is_403_even_with_the_token(env: Env) -> None:
    await env.login(TARO)
    token = await env.csrf()
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": BRIDGE},  # the bridge may post back only its two answers
        {},  # neither Origin nor Referer
        {"Referer": "https://evil.example/page"},
    ):
        response = await env.client.post(
            "/logout", data={"csrf": token}, headers=headers, allow_redirects=False
        )
        assert response.status == 403, headers
    referer = await env.client.post(
        "/logout",
        data={"csrf": token},
        headers={"Referer": f"{PUBLIC}/history"},
        allow_redirects=False,
    )
    assert referer.status == 303  # without Origin, a same-origin Referer will do


def test_origin_normal_forms() -> None:
    assert origin_of("HTTPS://Portal.Example:443/x?y") == "https://portal.example"
    assert origin_of("http://127.0.0.1:8471/") == "http://127.0.0.1:8471"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    assert origin_of("null") is None
    assert origin_of("javascript:alert(1)") is None
    assert origin_of("http://h:99999/") is None
    allowed = {"https://portal.example"}
    assert origin_allowed("https://portal.example", None, allowed)
    assert not origin_allowed("https://portal.example.evil", None, allowed)
    assert not origin_allowed(None, None, allowed)
    assert origin_allowed(None, "https://portal.example/history", allowed)
    assert not origin_allowed("https://evil.example", "https://portal.example/", allowed)


@pytest.mark.parametrize("path", [*PAGES, "/login", "/nowhere", "/static/portal.css"])
async def test_security_headers_on_every_response(env: Env, path: str) -> None:
    await env.login(TARO)
    response = await env.client.get(path, allow_redirects=False)
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        f"form-action 'self' {BRIDGE}",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    if not path.startswith("/static/"):
        assert response.headers["Cache-Control"] == "no-store"


async def test_headers_on_redirects_and_errors_without_a_session(env: Env) -> None:
    for path in ("/", "/history", "/nowhere"):
        response = await env.client.get(path, allow_redirects=False)
        assert "object-src 'none'" in response.headers["Content-Security-Policy"]
    missing = await env.client.get("/nowhere")
    assert missing.status == 404
    assert "page not found" in await missing.text()
    assert "Traceback" not in await missing.text()


async def test_pages_have_no_inline_script_or_style(env: Env) -> None:
    await env.login(TARO)
    env.backend.history_by["tok-taro"] = [access("tok-taro")]
    for path in [*PAGES, "/login"]:
        html = await (await env.client.get(path)).text()
        assert "<script>" not in html
        assert "style=" not in html
        assert "<style" not in html
        assert " on" + "click=" not in html


async def test_oversized_post_is_413(env: Env) -> None:
    await env.login(TARO)
    token = await env.csrf()
    body = {"csrf": token, "to_address": "x" * (300 * 1024)}
    response = await env.client.post(
        "/applications/new/moving", data=body, headers={"Origin": PUBLIC}
    )
    assert response.status == 413
    assert "too large" in await response.text()
    signed = await env.client.post(
        "/applications/signed",
        data={"state": "x", "signed": "A" * (300 * 1024)},
        headers={"Origin": BRIDGE},
    )
    assert signed.status == 413


async def test_static_files_are_served(env: Env) -> None:
    js = await env.client.get("/static/live.js")
    assert js.status == 200
    assert "EventSource" in await js.text()
    assert "innerHTML" not in await js.text()
    css = await env.client.get("/static/portal.css")
    assert css.status == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "csrf={token}"),  # an HTML form's enctype="text/plain"
        ("application/json", '{{"csrf": "{token}"}}'),
        ("multipart/form-data; boundary=x", "--x\r\nbroken"),  # malformed: was a 500
        (
            "multipart/form-data; boundary=x",
            ('--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n--x--\r\n'),
        ),
        (None, "csrf={token}"),
    ],
)
async def test_a_body_that_is_not_an_url_encoded_form_is_415(
    env: Env, content_type: str | None, body: str
) -> None:
    await env.login(TARO)
    token = await env.csrf()
    headers = {"Origin": PUBLIC} | ({"Content-Type": content_type} if content_type else {})
    response = await env.client.post(
        "/logout", data=body.format(token=token).encode(), headers=headers, allow_redirects=False
    )
    assert response.status == 415
    assert "URL-encoded" in await response.text()
    assert "object-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await env.client.get("/history")).status == 200  # still logged in: nothing done
    bridge = await env.client.post(
        "/applications/signed",
        data=b"--x\r\nbroken",
        headers={"Origin": BRIDGE, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert bridge.status == 415
