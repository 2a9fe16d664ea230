"""The security headers on every response, errors and static files included."""

from __future__ import annotations

from hub.web import security_headers

__all__ = ["content_security_policy", "security_headers"]


def content_security_policy(bridge_origin: str) -> str:
    """No inline script or style anywhere; forms may go only here and to the card bridge."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        f"form-action 'self' {bridge_origin}"
    )
