"""The CA's HTTP service on a free localhost port, one per test module (see pki_http_env)."""

from pki_http_env import server

__all__ = ["server"]
