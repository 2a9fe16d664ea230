"""What every web site of the network shares (the portal, the monitor's console): the request's
origin against the site's own, a per-session token compared in constant time, the client key
a rate limit counts under, the security headers on every response, and the pages' templates.

Pure: no aiohttp. Serving itself (the ``Server`` header, aiohttp's own error pages) is the
composition root's (``renkei.serving``).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Protocol
from urllib.parse import urlsplit

import jinja2

__all__ = [
    "client_of",
    "headers_on_prepare",
    "new_token",
    "origin_allowed",
    "origin_of",
    "security_headers",
    "templates",
    "token_matches",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERMISSIONS = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` in a normal form (lower case, default port dropped), or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return (
        f"{scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[scheme])
        else (f"{scheme}://{host}:{port}")
    )


def origin_allowed(origin: str | None, referer: str | None, allowed: Collection[str]) -> bool:
    """The request's origin is one of ``allowed`` (normal forms); neither header → refused."""
    source = origin if origin is not None else referer
    if source is None:
        return False
    found = origin_of(source)
    return found is not None and found in allowed


def client_of(remote: str | None) -> str:
    """The key a request's peer address is limited under: the IPv4 address (an IPv4-mapped
    IPv6 address is its IPv4 one), or the IPv6 /64 (one subscriber's network: a host there has
    as many addresses as it likes); anything else is one ``unknown`` client."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def security_headers(
    csp: str, *, hsts: bool, referrer: str = "strict-origin-when-cross-origin"
) -> dict[str, str]:
    """The headers a site puts on every response, errors and static files included."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": referrer,
        "Permissions-Policy": _PERMISSIONS,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


class _Request(Protocol):
    @property
    def path(self) -> str: ...


class _Response(Protocol):
    @property
    def headers(self) -> MutableMapping[str, str]: ...


def headers_on_prepare(
    headers: dict[str, str],
) -> Callable[[_Request, _Response], Awaitable[None]]:
    """An ``on_response_prepare`` hook (aiohttp's, duck-typed): ``headers`` on every response,
    and ``Cache-Control: no-store`` on all but the static files."""

    async def add(request: _Request, response: _Response) -> None:
        response.headers.update(headers)
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"

    return add


def templates(package: str) -> jinja2.Environment:
    """The site's page templates (``package``'s ``templates/``): every value escaped, an
    undefined name an error rather than an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
