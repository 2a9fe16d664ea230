"""The card bridge's HTML, pure: Japanese with English labels, no script, every value escaped.

The one stylesheet is inline and allowed by its hash in the Content-Security-Policy, so the
policy needs neither ``'unsafe-inline'`` nor a style URL. Forms work with their button alone.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape

from card_service.bridge.forms import Origin, Pending
from card_service.exceptions import (
    CardError,
    CardRemoved,
    FormError,
    NoCard,
    PinBlocked,
    StateFileError,
)

__all__ = [
    "CSS",
    "NO_CARD",
    "failure",
    "message_page",
    "pin_page",
    "return_page",
    "security_headers",
]

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#111}h1{font-size:1.3rem}.en{color:#555;font-size:.9em}"
    ".error{border-left:4px solid #b00;padding:.3rem .8rem;background:#fee}"
    ".summary{white-space:pre-wrap;overflow-wrap:anywhere;border:1px solid #888;padding:.8rem;"
    "background:#f6f6f6}label{display:block;margin:1rem 0 .3rem}"
    "input[type=password]{font-size:1.2rem;padding:.3rem}"
    "button{font-size:1.1rem;padding:.5rem 1.2rem;margin-top:1rem}"
)
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
NO_CARD = "カードが見つかりません (no card in the reader)"


def security_headers(portals: Iterable[Origin]) -> dict[str, str]:
    """The headers on every answer: nothing loads, forms go only here or to the portals."""
    targets = " ".join(["'self'", *sorted({str(o) for o in portals})])
    csp = (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action {targets}; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin",  # the portal checks the Origin of our answer
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def _error(error: str | None) -> str:
    return f'<p class="error" role="alert">{escape(error)}</p>' if error else ""


def pin_page(pending: Pending, nonce: str, origin: str, *, error: str | None = None) -> str:
    """Ask the authentication PIN (login) or the signature password (sign)."""
    if pending.kind == "login":
        title = "ログイン (log in with your card)"
        intro = (
            f"<p>{escape(origin)} がカードによるログインを求めています。"
            '<span class="en">This portal asks you to log in with your card.</span></p>'
        )
        label = "利用者証明用電子証明書の暗証番号 (4-digit authentication PIN)"
        field = (
            '<input type="password" id="pin" name="pin" inputmode="numeric" pattern="[0-9]{4}" '
            'minlength="4" maxlength="4" autocomplete="off" required autofocus>'
        )
        fields = {"challenge": pending.challenge}
        action = "/login/confirm"
    else:
        title = "電子署名 (sign with your card)"
        digest = hashlib.sha256(pending.document).hexdigest()
        intro = (
            f"<p>{escape(origin)} が次の内容への署名を求めています。"
            '<span class="en">This portal asks you to sign:</span></p>'
            f'<div class="summary">{escape(pending.summary)}</div>'
            f'<p class="en">文書 (document): {len(pending.document)} bytes, SHA-256 '
            f"<code>{digest[:16]}…</code></p>"
        )
        label = "署名用電子証明書のパスワード (signature password, 6–16 characters)"
        field = (
            '<input type="password" id="pin" name="password" minlength="6" maxlength="16" '
            'autocapitalize="characters" autocomplete="off" required autofocus>'
        )
        fields = {}
        action = "/sign/confirm"
    hidden = _hidden({**fields, "return_to": pending.return_to, "state": pending.state})
    body = (
        f"{intro}{_error(error)}"
        f'<form method="post" action="{action}">{hidden}'
        f'<input type="hidden" name="nonce" value="{escape(nonce)}">'
        f'<label for="pin">{escape(label)}</label>{field}<br>'
        '<button type="submit">OK</button></form>'
        f'<p class="en">{_SECRET[pending.kind]}はこのコンピューターの外に送られません。'
        f"The {_SECRET_EN[pending.kind]} stays on this computer: only the card's answer goes "
        "to the portal.</p>"
    )
    return _page(title, body)


_SECRET = {"login": "暗証番号", "sign": "パスワード"}
_SECRET_EN = {"login": "PIN", "sign": "password"}


def return_page(return_to: str, fields: Mapping[str, str], done: str) -> str:
    """The card's answer, posted to the portal by the resident's button."""
    body = (
        f"<p>{escape(done)}</p>"
        f'<form method="post" action="{escape(return_to)}">{_hidden(fields)}'
        '<button type="submit" autofocus>ポータルへ戻る (Continue to the portal)</button></form>'
    )
    return _page("カードの操作が完了しました (done)", body)


def message_page(title: str, message: str) -> str:
    """An error or a refusal: what happened and what to do, with no form."""
    return _page(title, f'<p class="error" role="alert">{escape(message)}</p>')


def failure(exc: CardError) -> tuple[int, str, str]:
    """The status, title and message of the page for a refusal or a card error."""
    if isinstance(exc, FormError):
        return 400, "要求が正しくありません (bad request)", exc.message
    if isinstance(exc, PinBlocked):
        title = "暗証番号がロックされています (PIN blocked)"
        return 403, title, f"市区町村の窓口で解除してください。{exc.message}"
    if isinstance(exc, NoCard | CardRemoved):
        return 503, NO_CARD, f"カードを読み取り機に置いてください。{exc.message}"
    if isinstance(exc, StateFileError):
        return 503, "カードを開けません (the card cannot be opened)", exc.message
    return 502, "カードが予期しない応答をしました (the card answered unexpectedly)", exc.message
