"""Login limits, pure: a token bucket per client and one for the whole portal.

Every login request (``GET /login``, which makes a challenge, and ``POST /login/complete``,
which checks a signature and asks the certificate's status) takes a token from its client's
bucket and from the portal's; an empty bucket is a 429 with ``Retry-After``. A client is an
IPv4 address or an IPv6 /64 (one subscriber's network: a host there has as many addresses as
it likes). The pre-login store bounds what a client may hold (``portal.challenges``).

The defaults (``LoginLimits()``), and why:

- **per client: 30 at once, then one every 2 seconds** (30 a minute). A resident's login is two
  requests, and a wrong card or an expired challenge a few more; a household, or an office's
  counter, behind one address logs in far less often than that.
- **the whole portal: 1,000 at once, then 200 a second.** Each login costs an RSA verification
  and a certificate status check; at 200 a second the pending challenges (2 minutes each) stay
  under 24,000, a quarter of the store, so the store's own cap is reached only under a flood
  from many clients, which the store then refuses without evicting anyone.
- **pending challenges per client: 30.** A browser holds one (``GET /login`` replaces its own);
  30 serve 30 residents logging in at once behind one address.

The buckets live in the process: two portal processes allow twice the overall rate. Behind a
reverse proxy every request comes from the proxy's address unless the proxy passes the
client's (aiohttp sees the peer of its socket): then the per-client limit acts as a second
overall one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.buckets import Buckets, Rate
from hub.web import client_of
from portal.exceptions import TooMany

__all__ = [
    "LOGIN_LIMITS",
    "LoginLimiter",
    "LoginLimits",
    "client_of",
]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_client: Rate = field(default_factory=lambda: Rate(30, 0.5))
    overall: Rate = field(default_factory=lambda: Rate(1000, 200.0))
    pending_per_client: int = 30


LOGIN_LIMITS = LoginLimits()  # the defaults above


class LoginLimiter:
    """The per-client buckets and the portal's one: a request takes a token from both, or from
    neither."""

    def __init__(self, limits: LoginLimits, clients: int = 100_000) -> None:
        self._clients = Buckets(limits.per_client, clients)
        self._overall = Buckets(limits.overall, 1)

    def take(self, client: str, now: float) -> None:
        """One login request of ``client`` at ``now`` (seconds), or ``TooMany``."""
        if wait := self._clients.wait(client, now):
            raise TooMany("client", wait)
        if wait := self._overall.wait("", now):
            raise TooMany("portal", wait)
        self._clients.take(client, now)
        self._overall.take("", now)
