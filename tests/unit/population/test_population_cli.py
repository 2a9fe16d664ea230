"""``renkei population generate``: bad input and missing services say so clearly, non-zero."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cli_runner import Run

from renkei.network import identities, load_rules
from renkei.population.chunks import _escape
from renkei.progress import Progress, render
from renkei.secrets import State
from renkei.settings import Settings

NOWHERE = "postgresql://postgres@127.0.0.1:1/none"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    root = tmp_path / "state"
    State.generate(identities(load_rules(Settings(_env_file=None))[1])).save(root)
    return root


@pytest.mark.parametrize("n", ["0", "-5", "20000001", "999999999999"])
def test_an_impossible_size_is_refused(renkei: Run, n: str) -> None:
    code, out, err = renkei("--db", NOWHERE, "population", "generate", "--residents", n)
    assert code == 2 and out == ""
    assert err.startswith("renkei: population.bad_size: ")


def test_a_size_that_is_not_a_number_is_an_argument_error(renkei: Run) -> None:
    with pytest.raises(SystemExit) as caught:
        renkei("population", "generate", "--residents", "lots")
    assert caught.value.code == 2


def test_without_a_database_it_says_so(renkei: Run) -> None:
    code, _, err = renkei("population", "generate", "--residents", "10")
    assert code == 2
    assert "population.cannot_generate: no database configured" in err
    assert "--db" in err and "RENKEI_DB_URL" in err


def test_without_a_state_directory_it_says_to_run_init(renkei: Run) -> None:
    code, _, err = renkei("--db", NOWHERE, "population", "generate", "--residents", "10")
    assert code == 2
    assert "renkei.secrets" in err and "run `renkei init` first" in err


def test_an_unreachable_database_is_reported(renkei: Run, state_dir: Path) -> None:
    code, _, err = renkei(
        "--db", NOWHERE, "--state-dir", str(state_dir),
        "population", "generate", "--residents", "10",
    )  # fmt: skip
    assert code == 2 and "cannot reach the database" in err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--municipalities", "131017", "population.bad_municipality: 131017: the check digit"),
        ("--today", "June", "population.cannot_generate: --today takes an ISO date"),
        ("--workers", "99", "--workers is 0–64"),
    ],
)
def test_bad_options_are_explained(renkei: Run, flag: str, value: str, message: str) -> None:
    code, _, err = renkei(
        "--db", NOWHERE, "population", "generate", "--residents", "5", flag, value
    )
    assert code == 2 and message in err


def test_the_help_says_it_is_a_bulk_enrollment_and_stores_no_number(
    renkei: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        renkei("population", "generate", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "bulk load equivalent to every office enrolling every person" in text
    assert "符号取得" in text and "The individual number is never stored by any office" in text


def test_the_progress_bar_renders_rate_and_eta() -> None:
    line = render(250_000, 1_000_000, "residents", 10.0)
    assert line.startswith("[#######.......................]  25%  250,000/1,000,000 residents")
    assert "25,000/s" in line and "ETA 30 s" in line
    assert render(5, 5, "x", 2.0).endswith("2.0 s")


def test_progress_on_a_pipe_prints_a_line_per_tenth() -> None:
    stream = io.StringIO()
    ticks = iter(range(100))
    bar = Progress(100, "residents", stream=stream, clock=lambda: float(next(ticks)))
    for _ in range(20):
        bar.advance(5)
    bar.close()
    assert len(stream.getvalue().splitlines()) == 10


def test_copy_text_escapes_backslashes_only() -> None:
    assert _escape('{"a":"b"}') == '{"a":"b"}'
    assert _escape('{"a":"\\n\\\\"}') == '{"a":"\\\\n\\\\\\\\"}'
