"""`renkei register <event>`: the municipal desk's register events, on the embedded default
(the demo's population, in memory) — applied and printed, or refused with the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_runner import Run

from agencies.population.households import generate


def test_a_name_change_is_applied_and_the_event_id_printed_first(renkei: Run) -> None:
    code, out, err = renkei(
        "register", "name", "--local-id", "R0000001", "--effective", "2026-12-01",
        "--name", "番号 花子",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["name"] == "番号 花子"
    assert "rrc" not in json.loads(out)  # the 住民票コード is not printed
    first, *_ = err.splitlines()
    assert first.startswith("event ") and first.endswith(": name of R0000001")
    assert "applied: told to the network and J-LIS" in err


def test_an_event_for_no_resident_is_refused_with_the_reason(renkei: Run) -> None:
    code, _, err = renkei("register", "death", "--local-id", "NOBODY", "--effective", "2026-12-01")
    assert code == 2
    assert "register.not_on_register: no resident 'NOBODY' on this register" in err


def test_a_move_in_reads_its_number_from_a_file_and_checks_it(renkei: Run, tmp_path: Path) -> None:
    number = tmp_path / "number"
    number.write_text("123456789012\n")  # a wrong check digit
    code, _, err = renkei(
        "register", "move-in", "--local-id", "S1", "--effective", "2026-12-01",
        "--name", "高橋 翼", "--birth-date", "1990-05-05", "--sex", "1",
        "--address", "東京都千代田区九段南一丁目2番1号", "--from-address", "東京都新宿区",
        "--household", "HX", "--number-file", str(number),
    )  # fmt: skip
    assert code == 2 and "jlis.bad_check_digit" in err


def test_bad_input_is_refused_before_any_network_starts(renkei: Run) -> None:
    for argv, said in (
        (("death", "--local-id", "R1", "--effective", "1 Dec"), "register.bad_filing"),
        (("name", "--local-id", "R1", "--effective", "2026-12-01"), "a name needs name"),
        (("name", "--local-id", "R1", "--effective", "2026-12-01", "--name", "x" * 201), "200"),
        (("death", "--local-id", "R1", "--effective", "2026-12-01", "--event-id", "x"), "UUID"),
        (("death", "--local-id", "R1", "--effective", "2026-12-01", "--office", "nenkin"),
         "renkei.unknown_office"),
    ):  # fmt: skip
        code, out, err = renkei("register", *argv)
        assert code == 2 and said in err and out == ""
        assert "(no broker configured" not in err


def test_on_a_broker_the_register_needs_its_database(renkei: Run) -> None:
    code, _, err = renkei(
        "--broker", "amqp://guest:guest@127.0.0.1:1/", "register", "death",
        "--local-id", "R1", "--effective", "2026-12-01",
    )  # fmt: skip
    assert code == 2 and "renkei.no_database" in err


def test_a_number_change_writes_the_notice_and_prints_no_number(
    renkei: Run, tmp_path: Path
) -> None:
    notices = tmp_path / "post"
    code, out, err = renkei(
        "numbers", "change", "--local-id", "R0000001", "--by", "request",
        "--effective", "2026-12-01", "--notice-dir", str(notices),
    )  # fmt: skip
    assert code == 0, err
    shown = json.loads(out)
    assert "number" not in shown and "rrc" not in shown and shown["number_changed"] == "2026-12-01"
    assert "applied: told to J-LIS (a new number) and the network" in err
    [pdf] = notices.glob("number-notice-R0000001-*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_mode & 0o777 == 0o600
    # no number on the terminal (an event id's last group may be twelve digits: not a number)
    shown_text = re.sub(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "<uuid>", out + err)
    assert not re.search(r"\b[0-9]{12}\b", shown_text)


def test_a_number_change_for_no_one_or_by_no_one_is_refused(renkei: Run) -> None:
    code, _, err = renkei("numbers", "change", "--local-id", "NOBODY", "--by", "ex-officio")
    assert code == 2 and "register.not_on_register" in err
    with pytest.raises(SystemExit):  # argparse: --by is request or ex-officio
        renkei("numbers", "change", "--local-id", "R1", "--by", "leak")
    code, _, err = renkei(
        "numbers", "change", "--local-id", "R1", "--by", "request", "--effective", "tomorrow"
    )
    assert code == 2 and "register.bad_filing" in err
    assert "(no broker configured" not in err  # refused before any network


def test_the_others_relationships_reach_the_desk(renkei: Run) -> None:
    home = generate(300, seed=1)[0]  # the embedded population: R0000001 heads it, alone
    assert len(home.members) == 1
    code, out, err = renkei(
        "register", "household", "--local-id", "R0000001", "--effective", "2026-12-01",
        "--household", home.id, "--head", "--relationships", "R0000009=子",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "relationships names R0000009, whose head does not change" in err
