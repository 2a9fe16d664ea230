"""Cross-site request forgery: a per-session token in every form and the request's origin.

A state-changing request passes only when its ``Origin`` (or, without one, its ``Referer``) is
one of the allowed origins and its ``csrf`` field equals the session's token. The two requests
the card bridge posts back instead carry a one-time value bound to the session (the challenge,
the pending application id) and may come from the bridge's own origin.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from urllib.parse import urlsplit

__all__ = ["new_token", "origin_allowed", "origin_of", "token_matches"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


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
