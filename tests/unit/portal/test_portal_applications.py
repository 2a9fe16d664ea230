"""One-stop applications: the forms' validation, the signed document, and its delivery."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import quote

from portal_fakes import BRIDGE, HANAKO, PUBLIC, TARO, Env, hidden, new_client

from portal.codec import b64url_decode, b64url_encode
from portal.model import ApplicationStatus

GOOD_MOVE = {
    "to_address": "東京都新宿区西新宿2-8-1",
    "to_municipality": "131041",
    "moving_date": "2025-06-20",
}


async def confirm(env: Env, kind: str = "moving", form: dict[str, str] | None = None) -> str:
    response = await env.post(f"/applications/new/{kind}", form or GOOD_MOVE)
    html = await response.text()
    assert response.status == 200, html
    return html


async def test_list_and_forms(env: Env) -> None:
    await env.login(TARO)
    listing = await (await env.client.get("/applications")).text()
    for kind in ("moving", "child_allowance", "tax_return"):
        assert f"/applications/new/{kind}" in listing
    form = await (await env.client.get("/applications/new/child_allowance")).text()
    for name in ("child_name", "child_birth_date", "bank_account"):
        assert f'name="{name}"' in form
    assert (await env.client.get("/applications/new/marriage")).status == 404


async def test_round_trip_through_the_bridge(env: Env) -> None:
    await env.login(TARO)
    html = await confirm(env)
    assert f'action="{BRIDGE}/sign"' in html
    assert hidden(html, "return_to") == f"{PUBLIC}/applications/signed"
    assert "署名して送信 (Sign with the card and send)" in html
    document = b64url_decode(hidden(html, "document"))
    doc = json.loads(document)
    assert list(doc) == sorted(doc)
    assert doc["kind"] == "moving"
    assert doc["form"] == GOOD_MOVE
    assert hidden(html, "state") == doc["application_id"]
    assert doc["submitted_at"].startswith("2025-06-10T03:00:00")
    assert (
        document
        == json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    )
    assert "転居先住所 (new address): 東京都新宿区西新宿2-8-1" in hidden(html, "summary")
    blob = b"0\x82fake-cms" + document
    signed = {"signed": b64url_encode(blob), "state": hidden(html, "state")}
    response = await env.client.post(
        "/applications/signed", data=signed, headers={"Origin": BRIDGE}
    )
    text = await response.text()
    assert response.status == 200, text
    assert "受付済み (accepted)" in text
    assert env.backend.submitted == [("tok-taro", "moving", GOOD_MOVE, blob)]
    again = await env.client.post("/applications/signed", data=signed, headers={"Origin": BRIDGE})
    assert again.status == 400  # one-time
    listing = await (await env.client.get("/applications")).text()
    assert "R-1" in listing


async def test_pending_id_from_another_session_is_refused(env: Env) -> None:
    await env.login(TARO)
    state = hidden(await confirm(env), "state")
    other = Env(await new_client(env.app), env.backend, env.checker, env.clock, env.app)
    try:
        await other.login(HANAKO)
        response = await other.client.post(
            "/applications/signed",
            data={"signed": b64url_encode(b"cms"), "state": state},
            headers={"Origin": BRIDGE},
        )
        assert response.status == 400
        assert "no such pending application" in await response.text()
    finally:
        await other.client.close()
    assert env.backend.submitted == []
    unknown = await env.client.post(
        "/applications/signed",
        data={"signed": b64url_encode(b"cms"), "state": str(uuid.uuid4())},
        headers={"Origin": BRIDGE},
    )
    assert unknown.status == 400


async def test_signed_post_needs_a_session_and_a_same_site_origin(env: Env) -> None:
    response = await env.client.post(
        "/applications/signed",
        data={"signed": "AA", "state": "x"},
        headers={"Origin": BRIDGE},
        allow_redirects=False,
    )
    assert response.status == 303  # to /login
    await env.login(TARO)
    state = hidden(await confirm(env), "state")
    evil = await env.client.post(
        "/applications/signed",
        data={"signed": b64url_encode(b"cms"), "state": state},
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status == 403
    bad_blob = await env.client.post(
        "/applications/signed", data={"signed": "*", "state": state}, headers={"Origin": BRIDGE}
    )
    assert bad_blob.status == 400
    assert "malformed" in await bad_blob.text()


async def test_unavailable_office_keeps_the_application_for_a_retry(env: Env) -> None:
    await env.login(TARO)
    state = hidden(await confirm(env), "state")
    env.backend.down.add("submit")
    response = await env.client.post(
        "/applications/signed",
        data={"signed": b64url_encode(b"cms"), "state": state},
        headers={"Origin": BRIDGE},
    )
    text = await response.text()
    assert response.status == 503
    assert "unavailable" in text
    assert f'action="/applications/{state}/retry"' in text
    assert "再送信待ち" in await (await env.client.get("/applications")).text()
    env.backend.down.clear()
    retried = await env.post(f"/applications/{state}/retry")
    assert retried.status == 200
    assert "受付済み" in await retried.text()
    assert env.backend.submitted[0][3] == b"cms"
    assert (await env.post(f"/applications/{state}/retry")).status == 404


async def test_invalid_forms_come_back_with_messages(env: Env) -> None:
    await env.login(TARO)
    cases = [
        ("moving", {**GOOD_MOVE, "to_address": "あ" * 201}, "at most 200 characters"),
        ("moving", {**GOOD_MOVE, "to_address": "新宿\x07区"}, "control or invalid characters"),
        ("moving", {**GOOD_MOVE, "to_address": "新宿\u202e区"}, "control or invalid characters"),
        ("moving", {**GOOD_MOVE, "moving_date": "2025-02-30"}, "YYYY-MM-DD"),
        ("moving", {**GOOD_MOVE, "to_municipality": "131017"}, "municipal code"),
        (
            "child_allowance",
            {"child_name": "子", "child_birth_date": "20250101", "bank_account": "x"},
            "YYYY-MM-DD",
        ),
        (
            "child_allowance",
            {"child_name": "子" * 61, "child_birth_date": "2024-01-01", "bank_account": "x"},
            "at most 60",
        ),
        ("tax_return", {"fiscal_year": "24", "income": "1", "deductions": "0"}, "4-digit year"),
        (
            "tax_return",
            {"fiscal_year": "2024", "income": str(10**12 + 1), "deductions": "0"},
            "0 to 10^12",
        ),
        ("tax_return", {"fiscal_year": "2024", "income": "-5", "deductions": "0"}, "0 to 10^12"),
        ("tax_return", {"fiscal_year": "2024", "income": "100", "deductions": ""}, "required"),
    ]
    for kind, form, message in cases:
        response = await env.post(f"/applications/new/{kind}", form)
        text = await response.text()
        assert response.status == 400, (form, text)
        assert message in text, (form, message)
    assert env.sessions and not next(iter(env.sessions._items.values())).pending


async def test_lone_surrogate_in_raw_bytes_is_refused(env: Env) -> None:
    await env.login(TARO)
    token = await env.csrf()
    body = (
        f"csrf={quote(token)}&to_address=%ED%A0%80abc&to_municipality=131041&moving_date=2025-06-20"
    ).encode()
    response = await env.client.post(
        "/applications/new/moving",
        data=body,
        headers={"Origin": PUBLIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400
    assert "control or invalid characters" in await response.text()
    invalid_utf8 = body.replace(b"%ED%A0%80", b"%FF%FE")
    second = await env.client.post(
        "/applications/new/moving",
        data=invalid_utf8,
        headers={"Origin": PUBLIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert second.status == 400


async def test_form_post_needs_csrf(env: Env) -> None:
    await env.login(TARO)
    response = await env.client.post(
        "/applications/new/moving", data=GOOD_MOVE, headers={"Origin": PUBLIC}
    )
    assert response.status == 403


async def test_full_width_digits_are_normalised_in_what_is_signed(env: Env) -> None:
    await env.login(TARO)
    html = await confirm(
        env, "tax_return", {"fiscal_year": "２０２４", "income": "０05000000", "deductions": "0"}
    )
    doc = json.loads(b64url_decode(hidden(html, "document")))
    assert doc["form"] == {"fiscal_year": "2024", "income": "5000000", "deductions": "0"}
    # what the resident reads (the page, the bridge's summary): yen with separators
    assert "<dd>5,000,000円</dd>" in html
    assert "5,000,000円" in hidden(html, "summary")


async def test_a_name_in_variant_characters_is_signed_as_typed_through_the_web_form(
    env: Env,
) -> None:
    """神 U+FA19 (NFC would make it U+795E), 﨑 U+FA11, 髙 and an IVS, posted as a browser does."""
    await env.login(TARO)
    name = "\ufa19田 \u845b\U000e0100 髙\ufa11"
    form = {"child_name": name, "child_birth_date": "2020-01-01", "bank_account": "ゆうちょ"}
    html = await confirm(env, "child_allowance", form)
    document = b64url_decode(hidden(html, "document"))
    assert name.encode() in document
    assert json.loads(document)["form"]["child_name"] == name
    assert name in hidden(html, "summary")


async def test_the_list_shows_each_claims_state_as_its_office_told_it(env: Env) -> None:
    """受付 once accepted; 審査中 with why it waits; 認定 or 却下 once decided; a refused
    application stays refused whatever its progress says."""
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def status(progress: str, reason: str = "", state: str = "accepted") -> ApplicationStatus:
        return ApplicationStatus(
            uuid.uuid4(), "child_allowance", at, "chiyoda-child", state, f"R-{progress or 'x'}",
            ref=str(uuid.uuid4()), progress=progress, reason=reason,
        )  # fmt: skip

    env.backend.apps_by["tok-taro"] = [
        status(""),
        status("審査中", "timed_out : no reply <script>"),
        status("認定"),
        status("却下"),
        status("認定", state="refused"),
    ]
    await env.login(TARO)
    text = await (await env.client.get("/applications")).text()
    rows = text.split("<tbody>")[1].split("</tbody>")[0].split("<tr ")[1:]
    labels = [r.split('data-label="状況">')[1].split("<")[0] for r in rows]
    assert labels == [
        "受付済み (accepted)",
        "審査中 (under examination)",
        "認定 (granted)",
        "却下 (rejected)",
        "不受理 (refused)",
    ]
    assert "R-審査中 — timed_out : no reply &lt;script&gt;" in rows[1]  # why, escaped
    assert " — " not in rows[2]  # a decided claim shows no reason


async def test_an_application_whose_office_has_not_answered_yet_is_shown_pending(
    env: Env,
) -> None:
    """Its first send timed out: the portal sends it again by itself (``portal.sending``).
    Not "not delivered" with a retry (before: the office might hold it, and the resident was
    told it had not gone through), nor a form to file it again."""
    await env.login(TARO)
    state = hidden(await confirm(env), "state")
    env.backend.outcome = "pending"
    response = await env.client.post(
        "/applications/signed",
        data={"signed": b64url_encode(b"cms"), "state": state},
        headers={"Origin": BRIDGE},
    )
    text = await response.text()
    assert response.status == 200, text
    assert "確認中 (waiting for the office to answer)" in text
    assert "do not file it again" in text
    assert "/retry" not in text and "unavailable" not in text
    listing = await (await env.client.get("/applications")).text()
    assert "確認中" in listing and "再送信待ち" not in listing
    # what the season replay reads to follow it (``renkei.replay_web``)
    [status] = env.backend.apps_by["tok-taro"]
    assert f'<p class="pending" data-status-id="{status.application_id}"' in text
    assert f'data-status-id="{status.application_id}" data-status="pending"' in listing


async def test_an_application_never_answered_may_be_sent_again_from_the_list(env: Env) -> None:
    """応答なし (the portal's sends ran out unanswered): a 送り直す button on its row, posting
    with the CSRF token; the row is 確認中 again. Another resident's id, an answered one, a
    malformed one, a post without the token or from another site: refused, nothing sent."""
    at = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
    mine = ApplicationStatus(uuid.uuid4(), "tax_return", at, "nta", "unavailable", "応答なし")
    done = ApplicationStatus(uuid.uuid4(), "tax_return", at, "nta", "accepted", "R-1")
    theirs = ApplicationStatus(uuid.uuid4(), "tax_return", at, "nta", "unavailable", "応答なし")
    env.backend.apps_by = {"tok-taro": [mine, done], "tok-hanako": [theirs]}
    await env.login(TARO)
    listing = await (await env.client.get("/applications")).text()
    assert f'action="/applications/{mine.application_id}/resend"' in listing
    assert f'action="/applications/{done.application_id}/resend"' not in listing
    assert "送り直す (send again)" in listing and "二重に提出されることはありません" in listing
    for refused in (
        f"/applications/{theirs.application_id}/resend",  # another resident's
        f"/applications/{done.application_id}/resend",  # answered
        "/applications/not-a-uuid/resend",
        f"/applications/{mine.application_id}%00/resend",
        f"/applications/{'9' * 5000}/resend",
    ):
        assert (await env.post(refused)).status == 404, refused
    path = f"/applications/{mine.application_id}/resend"
    no_token = await env.client.post(path, data={}, headers={"Origin": PUBLIC})
    assert no_token.status == 403
    assert (await env.post(path, {"csrf": "forged"})).status == 403
    assert (await env.post(path, origin="https://evil.example")).status == 403
    assert [s.status for s in env.backend.apps_by["tok-hanako"]] == ["unavailable"]
    assert env.backend.apps_by["tok-taro"][0].status == "unavailable"  # nothing sent yet
    sent = await env.post(path)
    assert sent.status == 303 and sent.headers["Location"] == "/applications"
    listing = await (await env.client.get("/applications")).text()
    assert f'data-status-id="{mine.application_id}" data-status="pending"' in listing
    assert (await env.post(path)).status == 404  # 確認中 now: not sent twice
