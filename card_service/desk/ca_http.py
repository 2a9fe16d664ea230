"""The CA as the desk reaches it: ``renkei pki serve``'s HTTP API, with the operator token.

``POST /certificates`` issues (``{"kind", "public_key", "holder", "prefecture",
"municipality", "facts"?}`` → ``{"certificate": PEM, …}``); ``GET /ca/{name}.der`` gives an
issuing CA's certificate. Errors come back as ``{"code": "pki.…", "message": …}`` and are
raised as :class:`IssuanceError` with the CA's code in the message.

A 503 to an issuance (``pki.unavailable``: the certificate issued, its link to the holder not
yet written, J-LIS's store out of reach) is asked again, the same request, after the CA's
``Retry-After`` (1 s without one; at most ``MAX_PAUSE`` seconds), up to ``tries`` times in all:
the CA answers a repeated request with the certificate it issued for it, never another.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service.exceptions import IssuanceError

__all__ = ["DEFAULT_CA_URL", "MAX_PAUSE", "TRIES", "HttpCa"]

DEFAULT_CA_URL = "http://127.0.0.1:8440"
TRIES = 4  # an issuance asked at most this many times while the CA answers it unavailable
MAX_PAUSE = 30.0  # seconds: the longest Retry-After heeded


class _Unavailable(IssuanceError):
    def __init__(self, message: str, pause: float) -> None:
        super().__init__(message)
        self.pause = pause


def _pause(retry_after: str | None) -> float:
    """The CA's ``Retry-After`` in seconds, within [0, MAX_PAUSE]; 1 when absent or not a
    number of seconds."""
    try:
        seconds = float(retry_after or "1")
    except ValueError:
        return 1.0
    return 1.0 if math.isnan(seconds) else min(max(seconds, 0.0), MAX_PAUSE)


class HttpCa:
    def __init__(
        self, session: aiohttp.ClientSession, url: str, operator_token: str, *, tries: int = TRIES
    ) -> None:
        if tries < 1:
            raise ValueError("an issuance is asked at least once")
        self._http = session
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {operator_token}"}
        self._tries = tries

    def __repr__(self) -> str:
        return f"HttpCa({self._url})"

    async def _request(self, method: str, path: str, body: Any = None) -> aiohttp.ClientResponse:
        try:
            resp = await self._http.request(
                method, self._url + path, json=body, headers=self._headers
            )
            await resp.read()
        except aiohttp.ClientConnectionError:
            raise IssuanceError(
                f"the CA at {self._url} is not reachable: is `renkei pki serve` running?"
            ) from None
        except TimeoutError:  # the session's own timeout (aiohttp raises the builtin's kin)
            raise IssuanceError(
                f"the CA at {self._url} did not answer in time: ask again (the same request"
                " is answered with the certificate already issued for it)"
            ) from None
        if resp.status >= 400:
            try:
                err = await resp.json(content_type=None)
                detail = f"{err['code']}: {err['message']}"
            except (ValueError, KeyError, TypeError):
                detail = f"HTTP {resp.status}"
            if resp.status == 503:  # unavailable for now: HTTP's own word, whatever the code
                raise _Unavailable(
                    f"the CA refused ({detail})", _pause(resp.headers.get("Retry-After"))
                )
            raise IssuanceError(f"the CA refused ({detail})")
        return resp

    async def issue(
        self,
        kind: str,
        public_key_pem: str,
        *,
        holder: str,
        prefecture: str,
        municipality: str,
        facts: dict[str, str] | None,
        code: str | None = None,
    ) -> bytes:
        body: dict[str, Any] = {
            "kind": kind,
            "public_key": public_key_pem,
            "holder": holder,
            "prefecture": prefecture,
            "municipality": municipality,
        }
        if facts is not None:
            body["facts"] = facts
        if code is not None:
            body["code"] = code
        for tried in range(1, self._tries + 1):
            try:
                resp = await self._request("POST", "/certificates", body)
                break
            except _Unavailable as exc:
                if tried == self._tries:
                    raise IssuanceError(f"{exc} — asked {tried} times") from None
                await asyncio.sleep(exc.pause)
        try:
            pem = (await resp.json())["certificate"]
            cert = x509.load_pem_x509_certificate(pem.encode())
        except (ValueError, KeyError, TypeError):
            raise IssuanceError("the CA answered without a certificate") from None
        return cert.public_bytes(serialization.Encoding.DER)

    async def ca_certificate(self, kind: str) -> bytes:
        resp = await self._request("GET", f"/ca/{kind}.der")
        return await resp.read()
