"""`renkei season list|show`, a bad season or option at the command line, the missing extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import loadtest
from loadtest.exceptions import MissingExtra
from renkei import season_commands
from renkei.cli import main

pytestmark = pytest.mark.usefixtures("restore_logging")


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["season", "list"]) == 0
    out = capsys.readouterr().out
    assert "june-child-allowance" in out and "spring-moves" in out
    assert main(["season", "show", "spring-moves"]) == 0
    out = capsys.readouterr().out
    assert "moved_out" in out and "day weights [1.0" in out and "source: FACTS.md" in out
    assert main(["season", "show", "june-child-allowance"]) == 0
    out = capsys.readouterr().out
    assert "child_allowance application (chiyoda-child's residents, once each)" in out
    assert "login, history, notices (chiyoda-resident's residents, a card each)" in out


def test_a_bad_season_file_at_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "x"\n')
    assert main(["season", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("renkei: loadtest.bad_season: bad.toml: daily_messages: ")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--rate", "10", "--duration", "ten"], "not a duration"),
        (["--rate", "-3"], "rate must be above 0"),
        (["--scale", "1", "--compress", "0s"], "season day"),
        (["--rate", "10", "--portal", "http://127.0.0.1:8470"], "real network only"),
    ],
)
def test_bad_replay_options(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["season", "replay", "june-child-allowance", *argv]) == 2
    err = capsys.readouterr().err
    assert "loadtest.bad_option" in err and words in err


def test_the_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hdrh", None)  # `import hdrh` now raises ImportError
    monkeypatch.setitem(sys.modules, "hdrh.histogram", None)
    for name in ("stats", "progress", "report"):  # imported afresh, as on a light install
        monkeypatch.delitem(sys.modules, f"loadtest.{name}", raising=False)
        monkeypatch.delattr(loadtest, name, raising=False)
    with pytest.raises(MissingExtra, match=r"renkei\[loadtest\]") as caught:
        season_commands._extras()
    assert caught.value.code == "loadtest.missing_extra"
