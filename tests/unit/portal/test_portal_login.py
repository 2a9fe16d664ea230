"""Card login: the challenge–response, its refusals, cookies, and the sessions it opens."""

from __future__ import annotations

from portal_fakes import BRIDGE, HANAKO, PUBLIC, STRANGER, TARO, Env, hidden
from structlog.testing import capture_logs

from portal.codec import b64url_decode, b64url_encode

PRE, SESSION = "__Host-renkei-pre", "__Host-renkei-session"


def set_cookies(response: object) -> dict[str, str]:
    """The raw Set-Cookie header per cookie name."""
    headers = response.headers.getall("Set-Cookie", [])  # type: ignore[attr-defined]
    return {h.split("=", 1)[0]: h for h in headers}


def assert_host_cookie(header: str) -> None:
    """__Host-: Secure, Path=/, no Domain; HttpOnly; SameSite None for the one-time pre-login
    cookie (it rides on the bridge's cross-site POST), Lax for the session (the 303 after it)."""
    parts = [p.strip() for p in header.split(";")]
    lowered = [p.lower() for p in parts]
    assert "secure" in lowered
    assert "httponly" in lowered
    assert ("samesite=none" if header.startswith(PRE) else "samesite=lax") in lowered
    assert "path=/" in lowered
    assert not any(p.startswith("domain") for p in lowered)


async def test_login_form_posts_to_the_bridge_with_a_fresh_challenge(env: Env) -> None:
    page = await env.client.get("/login")
    html = await page.text()
    assert page.status == 200
    assert f'action="{BRIDGE}/login"' in html
    assert hidden(html, "return_to") == f"{PUBLIC}/login/complete"
    assert len(b64url_decode(hidden(html, "challenge"))) == 32
    assert "=" not in hidden(html, "challenge")
    assert hidden(html, "state")
    assert "マイナンバーカードでログイン (Log in with the card)" in html
    assert_host_cookie(set_cookies(page)[PRE])
    again = await (await env.client.get("/login")).text()
    assert hidden(again, "challenge") != hidden(html, "challenge")


async def test_full_login_opens_a_fresh_session(env: Env) -> None:
    await env.client.get("/login")
    pre = env.cookie(PRE)
    response = await env.bridge_login(TARO)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookies = set_cookies(response)
    assert_host_cookie(cookies[SESSION])
    assert cookies[PRE].startswith(f"{PRE}=;") or "Max-Age=0" in cookies[PRE]
    session = env.cookie(SESSION)
    assert session and session != pre and len(session) >= 43
    home = await env.client.get("/")
    html = await home.text()
    assert home.status == 200
    for link in ("/history", "/me", "/notices", "/applications", "/logout"):
        assert link in html
    assert home.headers["Cache-Control"] == "no-store"
    second = await env.login(TARO)
    assert second != session  # a second login: a new id, the old one gone
    assert session not in env.sessions
    assert second in env.sessions


async def test_unauthenticated_root_redirects_to_login(env: Env) -> None:
    response = await env.client.get("/", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"


async def test_replayed_response_is_refused(env: Env) -> None:
    page = await (await env.client.get("/login")).text()
    challenge, state = hidden(page, "challenge"), hidden(page, "state")
    form = {
        "challenge": challenge,
        "state": state,
        "signature": b64url_encode(TARO.sign(b64url_decode(challenge))),
        "certificate": b64url_encode(TARO.der),
    }
    pre = env.cookie(PRE)
    bridge = {"Origin": BRIDGE}
    first = await env.client.post(
        "/login/complete", data=form, headers=bridge, allow_redirects=False
    )
    assert first.status == 303
    env.client.session.cookie_jar.update_cookies({PRE: pre or ""})  # the same cookie again
    replay = await env.client.post(
        "/login/complete", data=form, headers=bridge, allow_redirects=False
    )
    assert replay.status == 400
    assert "already used" in await replay.text()
    assert SESSION not in set_cookies(replay)


async def test_expired_challenge_is_refused(env: Env) -> None:
    page = await (await env.client.get("/login")).text()
    env.clock.shift(minutes=2, seconds=1)
    with capture_logs() as logs:
        response = await env.respond(page, TARO)
    assert response.status == 400
    assert "expired" in await response.text()
    assert env.cookie(SESSION) is None
    assert any(e.get("reason") == "challenge_expired" for e in logs)


async def test_foreign_challenge_is_refused(env: Env) -> None:
    other = await (await env.client.get("/login")).text()  # a challenge issued earlier
    foreign = hidden(other, "challenge")
    response = await env.bridge_login(
        TARO,
        tamper={
            "challenge": foreign,
            "signature": b64url_encode(TARO.sign(b64url_decode(foreign))),
        },
    )
    assert response.status == 400
    assert "does not belong" in await response.text()
    wrong_state = await env.bridge_login(TARO, tamper={"state": "guess"})
    assert wrong_state.status == 400
    assert env.cookie(SESSION) is None


async def test_signature_by_another_card_fails(env: Env) -> None:
    response = await env.bridge_login(TARO, signer=HANAKO)
    assert response.status == 403
    text = await response.text()
    assert "署名を検証できません" in text
    assert "does not verify" in text
    assert env.cookie(SESSION) is None


async def test_revoked_certificate_is_refused_at_login(env: Env) -> None:
    env.checker.refused[TARO.serial] = "revoked (keyCompromise)"
    with capture_logs() as logs:
        response = await env.bridge_login(TARO)
    assert response.status == 403
    text = await response.text()
    assert "revoked (keyCompromise)" in text
    assert "電子証明書が利用できません" in text
    assert env.cookie(SESSION) is None
    unknown = await env.bridge_login(STRANGER)
    assert unknown.status == 403
    assert "not issued by the JPKI" in await unknown.text()
    rendered = repr(logs)
    assert b64url_encode(TARO.der)[:40] not in rendered


async def test_no_challenge_or_token_or_certificate_in_logs(env: Env) -> None:
    with capture_logs() as logs:
        await env.login(TARO)
        await env.bridge_login(TARO, signer=HANAKO)
    rendered = repr(logs)
    assert "tok-taro" not in rendered
    assert b64url_encode(TARO.der)[:30] not in rendered
    assert str(TARO.serial) not in rendered


async def test_malformed_response_is_a_clear_400(env: Env) -> None:
    response = await env.bridge_login(TARO, tamper={"certificate": "not*base64"})
    assert response.status == 400
    assert "malformed" in await response.text()


async def test_login_with_backend_unavailable_says_so(env: Env) -> None:
    env.backend.down.add("identify")
    response = await env.bridge_login(TARO)
    assert response.status == 503
    assert "unavailable" in await response.text()


async def test_session_ends_when_the_certificate_is_revoked(env: Env) -> None:
    await env.login(TARO)
    assert (await env.client.get("/history")).status == 200
    env.checker.refused[TARO.serial] = "revoked: the holder died"
    env.clock.shift(seconds=4)
    assert (await env.client.get("/history")).status == 200  # within the recheck interval
    env.clock.shift(seconds=1)
    response = await env.client.get("/history", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    page = await env.client.get("/login")
    assert "revoked: the holder died" in await page.text()
    env.checker.refused.clear()
    assert (await env.client.get("/history", allow_redirects=False)).status == 303


async def test_session_expires_when_idle(env: Env) -> None:
    await env.login(TARO)
    env.clock.shift(minutes=29)
    assert (await env.client.get("/me")).status == 200
    env.clock.shift(minutes=30)
    response = await env.client.get("/me", allow_redirects=False)
    assert response.status == 303
    assert "session expired" in await (await env.client.get("/login")).text()


async def test_forged_session_cookie_is_cleared_and_redirected(env: Env) -> None:
    env.client.session.cookie_jar.update_cookies({SESSION: "forged-" + "A" * 40})
    response = await env.client.get("/history", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    cleared = set_cookies(response)[SESSION]
    assert "Max-Age=0" in cleared or "expires=" in cleared.lower()


async def test_logout_destroys_the_session_server_side(env: Env) -> None:
    session = await env.login(TARO)
    token = await env.csrf()
    response = await env.client.post(
        "/logout", data={"csrf": token}, headers={"Origin": PUBLIC}, allow_redirects=False
    )
    assert response.status == 303
    assert "logged out" in await (await env.client.get("/login")).text()
    env.client.session.cookie_jar.update_cookies({SESSION: session})  # the old cookie, kept
    again = await env.client.get("/history", allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"] == "/login"


async def test_login_post_from_a_foreign_site_is_refused(env: Env) -> None:
    page = await (await env.client.get("/login")).text()
    challenge = hidden(page, "challenge")
    form = {
        "challenge": challenge,
        "state": hidden(page, "state"),
        "signature": b64url_encode(TARO.sign(b64url_decode(challenge))),
        "certificate": b64url_encode(TARO.der),
    }
    response = await env.client.post(
        "/login/complete",
        data=form,
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403
