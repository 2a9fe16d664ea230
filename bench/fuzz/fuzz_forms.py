"""The HTTP forms: the card bridge's (``card_service.bridge.forms``: the body, each field,
origins, return URLs) and the portal's applications (``portal.forms``). Refusals are
FormError (the bridge's 400) and the portal's error dict; nothing else."""

import contextlib
import datetime as dt
from urllib.parse import parse_qsl

from fuzzlib import fuzz, instrumented

with instrumented():
    from card_service.bridge import forms as bridge
    from card_service.exceptions import FormError
    from portal import forms as portal

KINDS = sorted(portal.FIELDS)
PORTAL = (bridge.origin_of("http://127.0.0.1:8470"),)


def one_input(data: bytes) -> None:
    kind = KINDS[data[0] % len(KINDS)] if data else KINDS[0]
    text = data[1:].decode("utf-8", "replace")
    raw = dict(parse_qsl(text, keep_blank_values=True))
    clean, errors = portal.validate(kind, raw, dt.date(2026, 6, 1))
    if not errors:
        portal.build_document(kind, clean, __import__("uuid").UUID(int=1), dt.datetime(2026, 6, 1))
        portal.summary(kind, clean)
    for check in (
        lambda: bridge.parse_form(data[1:]),
        lambda: bridge.parse_origin(text),
        lambda: bridge.parse_return_to(text, PORTAL),
        lambda: bridge.parse_b64url(text, "document", limit=bridge.MAX_DOCUMENT),
        lambda: bridge.parse_text(text, "summary", bridge.MAX_SUMMARY, lines=True),
    ):
        with contextlib.suppress(FormError):
            check()


if __name__ == "__main__":
    fuzz(one_input, ())
