"""The issuance centre's HTTP API as the kiosk calls it (``issuance/README.md``, Ports).

Every answer is checked before it is believed: JSON of the expected shape, a PDF that is one,
sizes bounded. A refusal is :class:`CentreRefused` with the centre's code and Japanese message;
no answer, or one that is not the API's, is ``kiosk.centre_unavailable`` /
``kiosk.centre_answer``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from kiosk.exceptions import KIOSK_CENTRE_ANSWER, KIOSK_CENTRE_UNAVAILABLE, CentreRefused
from kiosk.flow import Issued, Quote, Signed

__all__ = ["DEFAULT_CENTRE", "MAX_JSON", "MAX_PDF", "Centre", "b64url"]

DEFAULT_CENTRE = "http://127.0.0.1:8490"
MAX_JSON = 16 * 1024
MAX_PDF = 2 * 1024 * 1024  # a certificate is about 15 KB
MAX_COPIES = 100  # a quote's limit of copies beyond this is no kiosk's (the centre says 10)
MAX_YEARS = 20  # fiscal years on one screen at most (the centre offers 4)
TIMEOUT = aiohttp.ClientTimeout(total=30)
_RECORD = re.compile(r"[0-9A-Za-z-]{1,100}")  # the access record's id (a UUID); a file name here
_DOWN = "証明書交付センターに接続できません"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _bad(what: str) -> CentreRefused:
    return CentreRefused(KIOSK_CENTRE_ANSWER, f"交付センターの応答が正しくありません ({what})")


def _text(doc: Mapping[str, Any], name: str, limit: int = 2000) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{name} is not a string")
    return value


def _year(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1900 < value < 3000:
        raise _bad("a fiscal year")
    return value


def _years(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_YEARS:
        raise _bad("fiscal_years")
    years = tuple(_year(v) for v in value)
    if len(set(years)) != len(years):
        raise _bad("fiscal_years")
    return years


def _count(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1_000_000:
        raise _bad(f"{name} is not a count")
    return value


class Centre:
    """The centre at ``url``; ``http`` is the process's client session."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url.rstrip("/")

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, limit: int = MAX_JSON
    ) -> tuple[bytes, CIMultiDictProxy[str]]:
        try:
            async with self.http.request(
                method, self.url + path, json=body, timeout=TIMEOUT, allow_redirects=False
            ) as got:
                data = bytearray()
                async for chunk in got.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise _bad(f"over {limit} bytes")
                if got.status != 200:
                    raise self._refusal(got.status, got.content_type, bytes(data))
                return bytes(data), got.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            why = f"{_DOWN} ({type(exc).__name__})"
            raise CentreRefused(KIOSK_CENTRE_UNAVAILABLE, why) from None

    @staticmethod
    def _refusal(status: int, content_type: str, data: bytes) -> CentreRefused:
        if content_type != "application/json":
            return _bad(f"HTTP {status}")
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return _bad(f"HTTP {status}, not JSON")
        if not isinstance(doc, dict):
            return _bad(f"HTTP {status}, not an object")
        try:
            return CentreRefused(_text(doc, "code", 100), _text(doc, "message"))
        except CentreRefused as exc:
            return exc

    async def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data, _ = await self._call(method, path, body)
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _bad("not JSON") from None
        if not isinstance(doc, dict):
            raise _bad("not an object")
        return doc

    async def status(self) -> str | None:
        """None when the service runs now, else why not (the centre's words)."""
        doc = await self._json("GET", "/v1/status")
        if doc.get("open") is True:
            return None
        if doc.get("open") is False:
            return _text(doc, "message")
        raise _bad("open is not a boolean")

    async def challenge(self) -> str:
        doc = await self._json("POST", "/v1/challenge")
        text = _text(doc, "challenge", 100)
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            raise _bad("the challenge is not base64url") from None
        if not 16 <= len(raw) <= 64:
            raise _bad("the challenge's size")
        return text

    async def quote(self, kind: str, options: Mapping[str, str], copies: int = 1) -> Quote:
        """The fee of ``copies``: the copies quoted must be those asked, the year one of the
        years offered (the tax certificate's), the limit of copies a sane one."""
        body = {"kind": kind, "options": dict(options), "copies": copies}
        doc = await self._json("POST", "/v1/quote", body)
        quote = Quote(
            _text(doc, "title", 100),
            _count(doc, "fee"),
            _count(doc, "copies"),
            _count(doc, "max_copies"),
            _year(doc.get("fiscal_year")) if "fiscal_year" in doc else None,
            _years(doc.get("fiscal_years", [])),
        )
        if quote.copies != copies or not copies <= quote.max_copies <= MAX_COPIES:
            raise _bad("copies")
        if (quote.fiscal_year is None) != (not quote.fiscal_years) or (
            quote.fiscal_year is not None and quote.fiscal_year not in quote.fiscal_years
        ):
            raise _bad("fiscal_year")
        return quote

    async def issue(
        self, signed: Signed, kind: str, options: Mapping[str, str], copies: int = 1
    ) -> Issued:
        body = {
            "challenge": signed.challenge,
            "signature": b64url(signed.signature),
            "certificate": b64url(signed.certificate),
            "kind": kind,
            "options": dict(options),
            "copies": copies,
        }
        pdf, headers = await self._call("POST", "/v1/certificates", body, MAX_PDF)
        if not pdf.startswith(b"%PDF-"):
            raise _bad("not a PDF")
        fee, record = headers.get("X-Fee", ""), headers.get("X-Record-Id", "")
        if not fee.isdigit() or len(fee) > 6 or not _RECORD.fullmatch(record):
            raise _bad("X-Fee or X-Record-Id")
        return Issued(pdf, int(fee), record)
