"""Cross-site request forgery: a per-session token in every form and the request's origin.

A state-changing request passes only when its ``Origin`` (or, without one, its ``Referer``) is
one of the allowed origins and its ``csrf`` field equals the session's token. The two requests
the card bridge posts back instead carry a one-time value bound to the session (the challenge,
the pending application id) and may come from the bridge's own origin.
"""

from __future__ import annotations

from hub.web import new_token, origin_allowed, origin_of, token_matches

__all__ = ["new_token", "origin_allowed", "origin_of", "token_matches"]
