"""The CA as the desk reaches it: ``renkei pki serve``'s HTTP API, with the operator token.

``POST /certificates`` issues (``{"kind", "public_key", "holder", "prefecture",
"municipality", "facts"?}`` → ``{"certificate": PEM, …}``); ``GET /ca/{name}.der`` gives an
issuing CA's certificate. Errors come back as ``{"code": "pki.…", "message": …}`` and are
raised as :class:`IssuanceError` with the CA's code in the message.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card_service.exceptions import IssuanceError

__all__ = ["DEFAULT_CA_URL", "HttpCa"]

DEFAULT_CA_URL = "http://127.0.0.1:8440"


class HttpCa:
    def __init__(self, session: aiohttp.ClientSession, url: str, operator_token: str) -> None:
        self._http = session
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {operator_token}"}

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
        if resp.status >= 400:
            try:
                err = await resp.json(content_type=None)
                detail = f"{err['code']}: {err['message']}"
            except (ValueError, KeyError, TypeError):
                detail = f"HTTP {resp.status}"
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
        resp = await self._request("POST", "/certificates", body)
        try:
            pem = (await resp.json())["certificate"]
            cert = x509.load_pem_x509_certificate(pem.encode())
        except (ValueError, KeyError, TypeError):
            raise IssuanceError("the CA answered without a certificate") from None
        return cert.public_bytes(serialization.Encoding.DER)

    async def ca_certificate(self, kind: str) -> bytes:
        resp = await self._request("GET", f"/ca/{kind}.der")
        return await resp.read()
