"""Logging for every process: structlog, JSON in production, pretty on a terminal.

Never the number, a token, a resident-record code or a payload in a log line: the ``redact``
processor replaces values of sensitive keys and any 11–13 digit run or token-shaped string in
any value. Call ``configure()`` once in the entry point; use ``get_logger()`` everywhere else.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, TextIO, cast

import structlog

__all__ = ["REDACTED", "configure", "get_logger", "redact"]

REDACTED = "[redacted]"
_SENSITIVE_KEYS = frozenset(
    {
        "number",
        "individual_number",
        "rrc",
        "token",
        "person",
        "payload",
        "body",
        "password",
        "secret",
    }
)
# A logger bound once stays bound to that configuration (structlog's cache_logger_on_first_use):
# fast in a process configured once; the test suite, where configurations come and go, turns it
# off so that each line reads the configuration of its moment.
CACHE_LOGGERS = True
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# 11–13 digit runs, also written in groups of four (resident-record codes, individual and
# corporate numbers), and long base64url runs (tokens, keys, sealed payloads).
_PATTERN = re.compile(r"(?<!\d)(?:\d{11,13}|\d{4}[ -]\d{4}[ -]\d{3,5})(?!\d)|[A-Za-z0-9_-]{40,}")


def _scrub(value: Any) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return value if _TRACEPARENT.match(value) else _PATTERN.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            _scrub(str(k)): REDACTED if k in _SENSITIVE_KEYS else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    text = str(value)  # ints, bytes, exceptions…: redact what their text would show
    scrubbed = _PATTERN.sub(REDACTED, text)
    return value if scrubbed == text else scrubbed


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = REDACTED if key in _SENSITIVE_KEYS else _scrub(event[key])
    return event


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once per process. ``json=None`` picks JSON unless stderr is a tty.

    The standard library's logging (aio-pika, aiohttp, asyncpg, asyncio…) goes through the same
    chain: one handler on the root logger, structlog's ``ProcessorFormatter``, so a library's
    warning is one line of the same format, redacted like ours.
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    numeric_level = logging.getLevelName(level.upper())
    head: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    tail: list[Any] = [structlog.processors.format_exc_info, redact, renderer]
    structlog.configure(
        processors=[*head, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    handler = _StdlibHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*head, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when ``configure`` ran: a caller
    that swaps stderr (a test's capture, a daemon redirecting it) never leaves the logs
    writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR: Final = cast(TextIO, _CurrentStderr())  # write and flush are all a log needs


class _StdlibHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler ``configure`` installs (and replaces when called again)."""


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
