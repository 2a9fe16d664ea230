"""No log line carries a number, a resident-record code, a token or a payload.

``structlog.testing.capture_logs`` replaces the whole processor chain (redaction included), so
these tests configure logging as a process does (``hub.log.configure``) and read what reaches
stderr; the pure ``redact`` processor is also checked on its own, with hypothesis.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from hub.log import REDACTED, configure, get_logger, redact

INDIVIDUAL = "123456789018"
RRC = "12345678901"
CORPORATE = "7000012050002"
TOKEN = "AQ3x_k9-ZmFrZS10b2tlbi1mb3ItdGVzdHMtb25seQ0"  # 44 base64url characters
QUERY_ID = "2f1c9a7e-8b3d-4e6f-a1b2-c3d4e5f6a7b8"
SECRETS = (INDIVIDUAL, RRC, CORPORATE, TOKEN)
DIGIT_RUN = re.compile(r"(?<!\d)\d{11,13}(?!\d)")
TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")

Lines = Callable[[], list[dict[str, Any]]]
Start = Callable[[], Lines]


@pytest.fixture
def json_logging(capsys: pytest.CaptureFixture[str], restore_logging: None) -> Start:
    """Configures logging as in production (JSON to stderr); returns a reader of the lines.

    Called in the test body: pytest swaps ``sys.stderr`` between fixture setup and the test,
    and ``configure`` binds the stream it finds.
    """

    def start() -> Lines:
        configure(level="debug", json=True)

        def read() -> list[dict[str, Any]]:
            err = capsys.readouterr().err
            assert_clean(err)
            return [json.loads(line) for line in err.splitlines()]

        return read

    return start


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert not DIGIT_RUN.search(text), text
    assert not TOKEN_RUN.search(text), text


def test_values_of_sensitive_keys_are_redacted(json_logging: Start) -> None:
    read = json_logging()
    log = get_logger("test")
    log.info(
        "enroll.received",
        number=INDIVIDUAL,
        individual_number=INDIVIDUAL,
        rrc=RRC,
        token=TOKEN,
        person="C0000001",
        payload={"income": 4_200_000},
        body="raw body",
        password="guest",
        secret="short",
    )
    (line,) = read()
    for key in ("number", "individual_number", "rrc", "token", "person", "payload", "body"):
        assert line[key] == REDACTED
    assert line["password"] == line["secret"] == REDACTED
    assert line["event"] == "enroll.received"


@pytest.mark.parametrize(
    "text",
    [
        f"wire.malformed: query.person: no such token {TOKEN}",
        f"no resident with individual number {INDIVIDUAL}",
        f"resident-record code {RRC} not found",
        f"corporate number {CORPORATE} is registered",
        f"number={INDIVIDUAL};rrc={RRC}",
        "full-width １２３４５６７８９０１８ too",
    ],
    ids=["token", "individual", "rrc", "corporate", "packed", "full-width"],
)
def test_numbers_and_tokens_inside_free_text_are_redacted(json_logging: Start, text: str) -> None:
    read = json_logging()
    get_logger("test").warning("message.rejected", reason=text, queue="office.chiyoda-tax.in")
    (line,) = read()
    assert REDACTED in line["reason"]
    assert line["queue"] == "office.chiyoda-tax.in"


def test_nested_dicts_and_lists_are_redacted_all_the_way_down(json_logging: Start) -> None:
    read = json_logging()
    get_logger("test").info(
        "batch.sent",
        items=[
            {"token": TOKEN, "holder": "chiyoda-tax"},
            {"targets": ("chiyoda-child", f"note about {INDIVIDUAL}")},
        ],
        context={"deep": {"person": "x", "list": [[f"rrc {RRC}"]], "office": "jlis"}},
    )
    (line,) = read()
    assert line["items"][0] == {"token": REDACTED, "holder": "chiyoda-tax"}
    assert line["items"][1]["targets"] == ["chiyoda-child", f"note about {REDACTED}"]
    assert line["context"] == {
        "deep": {"person": REDACTED, "list": [[f"rrc {REDACTED}"]], "office": "jlis"}
    }


def test_ordinary_values_pass_through(json_logging: Start) -> None:
    read = json_logging()
    get_logger("test").info(
        "query.finished",
        query_id=QUERY_ID,
        requester="chiyoda-child",
        provider="chiyoda-tax",
        affair="child_allowance",
        outcome="ok",
        code="wire.bad_signature",
        count=3,
        ms=12.5,
        year=2025,
        phone="0312345678",  # 10 digits: not a number of the system
        stamp="20250601090000",  # 14 digits
        ok=True,
        nothing=None,
    )
    (line,) = read()
    assert line | {"timestamp": None} == {
        "event": "query.finished",
        "level": "info",
        "timestamp": None,
        "query_id": QUERY_ID,
        "requester": "chiyoda-child",
        "provider": "chiyoda-tax",
        "affair": "child_allowance",
        "outcome": "ok",
        "code": "wire.bad_signature",
        "count": 3,
        "ms": 12.5,
        "year": 2025,
        "phone": "0312345678",
        "stamp": "20250601090000",
        "ok": True,
        "nothing": None,
    }


def test_bound_context_is_redacted_too(json_logging: Start) -> None:
    read = json_logging()
    structlog.contextvars.bind_contextvars(person=TOKEN, query_id=QUERY_ID)
    try:
        get_logger("test").info("query.received")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = read()
    assert (line["person"], line["query_id"]) == (REDACTED, QUERY_ID)


def test_a_traceback_does_not_carry_the_number(json_logging: Start) -> None:
    read = json_logging()
    try:
        raise KeyError(f"no resident {INDIVIDUAL} (token {TOKEN})")
    except KeyError:
        get_logger("test").exception("provider.failed", query_id=QUERY_ID)
    (line,) = read()
    assert "KeyError" in line["exception"]
    assert line["query_id"] == QUERY_ID


def test_the_console_renderer_is_redacted_too(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure(level="info", json=False)
    get_logger("test").info("enroll", number=INDIVIDUAL, note=f"token {TOKEN}", office="jlis")
    err = capsys.readouterr().err
    assert_clean(err)
    assert "jlis" in err


def test_the_level_filters_lines(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure(level="warning", json=True)
    log = get_logger("test")
    log.info("quiet")
    log.warning("loud")
    assert [json.loads(x)["event"] for x in capsys.readouterr().err.splitlines()] == ["loud"]


# ---- the standard library's logging (aio-pika, aiohttp, asyncpg…) ----------------------------


def test_a_library_warning_is_one_json_line_redacted(json_logging: Start) -> None:
    read = json_logging()
    structlog.contextvars.bind_contextvars(query_id=QUERY_ID)
    try:
        logging.getLogger("aio_pika.robust_connection").warning(
            "Connection attempt to amqp://guest:%s@127.0.0.1/ failed: %s", TOKEN, INDIVIDUAL
        )
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = read()
    assert line["level"] == "warning"
    assert line["logger"] == "aio_pika.robust_connection"
    assert line["query_id"] == QUERY_ID
    assert "timestamp" in line
    assert (
        line["event"]
        == f"Connection attempt to amqp://guest:{REDACTED}@127.0.0.1/ failed: {REDACTED}"
    )


def test_a_library_traceback_is_redacted_too(json_logging: Start) -> None:
    read = json_logging()
    try:
        raise ValueError(f"duplicate key (number)=({INDIVIDUAL})")
    except ValueError:
        logging.getLogger("asyncpg.pool").exception("connection %s lost", "pg-1")
    (line,) = read()
    assert line["event"] == "connection pg-1 lost"
    assert "ValueError" in line["exception"]


def test_library_lines_follow_the_level_and_one_handler_after_two_configures(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure(level="info", json=True)
    configure(level="warning", json=True)
    logging.getLogger("aiohttp.access").info("GET /me 200")
    logging.getLogger("aiohttp.server").error("Error handling request")
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [(x["logger"], x["event"]) for x in lines] == [
        ("aiohttp.server", "Error handling request")
    ]


def test_a_library_line_on_the_console_is_redacted(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure(level="info", json=False)
    logging.getLogger("aiormq.connection").warning("token %s for %s", TOKEN, "jlis")
    err = capsys.readouterr().err
    assert_clean(err)
    assert "jlis" in err
    assert "aiormq.connection" in err


# ---- the processor on its own ----------------------------------------------------------------

no_digits = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=20)
numbers = st.from_regex(r"[0-9]{11,13}", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z0-9_-]{40,120}", fullmatch=True)
leaks = st.builds(lambda a, s, b: f"{a}{s}{b}", no_digits, numbers | tokens, no_digits)
events = st.recursive(
    leaks | st.integers(-1000, 1000) | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.sampled_from(["a", "note", "items", "person", "token"]), inner)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["event", "reason", "items", "context"]), events))
def test_redact_leaves_no_number_or_token_anywhere(event: dict[str, Any]) -> None:
    out = json.dumps(redact(None, "info", dict(event)), ensure_ascii=False)
    assert not DIGIT_RUN.search(out.replace(REDACTED, " "))
    assert not TOKEN_RUN.search(out)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_text_without_long_digit_runs_or_long_words_is_unchanged(text: str) -> None:
    if DIGIT_RUN.search(text) or TOKEN_RUN.search(text):
        return
    assert redact(None, "info", {"reason": text}) == {"reason": text}


# ---- numbers in values that are not text, in keys, in groups ------------------------------


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        (int(CORPORATE), REDACTED),
        ({INDIVIDUAL}, [REDACTED]),
        (INDIVIDUAL.encode(), f"b'{REDACTED}'"),
        (ValueError(f"no resident {INDIVIDUAL}"), f"no resident {REDACTED}"),
    ],
    ids=["int", "set", "bytes", "exception"],
)
def test_a_number_inside_a_non_string_value_is_redacted(
    json_logging: Start, value: Any, logged: Any
) -> None:
    read = json_logging()
    get_logger("test").info("lookup.failed", detail=value, office="jlis")
    (line,) = read()  # logged, and (read checks) with no number left in it
    assert (line["event"], line["detail"], line["office"]) == ("lookup.failed", logged, "jlis")


def test_a_token_used_as_a_dict_key_is_redacted(json_logging: Start) -> None:
    read = json_logging()
    get_logger("test").info(
        "batch.done", results={TOKEN: "ok", "chiyoda-tax": "refused"}, found={INDIVIDUAL: 1}
    )
    (line,) = read()
    assert line["results"] == {REDACTED: "ok", "chiyoda-tax": "refused"}
    assert line["found"] == {REDACTED: 1}


@pytest.mark.parametrize("written", ["1234 5678 9018", "1234-5678-9018"])
def test_a_number_written_in_groups_is_redacted(written: str) -> None:
    out = redact(None, "info", {"reason": f"number {written} is not enrolled"})
    assert out["reason"] == f"number {REDACTED} is not enrolled"
