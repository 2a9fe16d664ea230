"""The security headers on every response, errors and static files included."""

from __future__ import annotations

__all__ = ["content_security_policy", "security_headers"]

_PERMISSIONS = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)


def content_security_policy(bridge_origin: str) -> str:
    """No inline script or style anywhere; forms may go only here and to the card bridge."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        f"form-action 'self' {bridge_origin}"
    )


def security_headers(csp: str, *, hsts: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # the card bridge admits only the portal's own origin: "same-origin" would make the
        # login and sign forms posted to it arrive as "Origin: null", which any site can send
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": _PERMISSIONS,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers
