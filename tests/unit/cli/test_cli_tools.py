"""The ``renkei`` tools, run through ``main([...])`` as an operator runs them."""

from __future__ import annotations

import re
import stat
import uuid
from pathlib import Path

import pytest
from cli_runner import Run

from renkei.network import identities, load_rules
from renkei.secrets import State
from renkei.settings import Settings

# ---- numbers check -------------------------------------------------------------------------


def test_a_valid_individual_number(renkei: Run) -> None:
    assert renkei("numbers", "check", "123456789018") == (
        0,
        "individual number: valid — check digit 8 is correct\n",
        "",
    )


def test_an_individual_number_with_a_wrong_check_digit_names_the_right_one(renkei: Run) -> None:
    code, out, _ = renkei("numbers", "check", "123456789017")
    assert code == 1
    assert out == "individual number: INVALID — check digit should be 8, not 7\n"


def test_a_valid_corporate_number(renkei: Run) -> None:
    code, out, _ = renkei("numbers", "check", "7000012050002")
    assert code == 0
    assert out.startswith("corporate number: valid")


def test_a_corporate_number_with_a_wrong_check_digit(renkei: Run) -> None:
    code, out, _ = renkei("numbers", "check", "8000012050002")
    assert code == 1
    assert out.startswith("corporate number: INVALID — check digit should be 7, not 8")


@pytest.mark.parametrize(
    ("written", "note"),
    [
        ("１２３４５６７８９０１８", "full-width digits read as ASCII"),
        ("1234 5678 9018", "separators ignored"),
    ],
    ids=["full-width", "spaced"],
)
def test_a_number_written_as_people_write_it_is_read_and_the_reading_noted(
    renkei: Run, written: str, note: str
) -> None:
    code, out, _ = renkei("numbers", "check", written)
    assert code == 0
    assert out.startswith("individual number: valid — check digit 8 is correct; ")
    assert note in out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "only digits allowed (found 'a' at position 1)"),
        ("12345", "5 digits: an individual number has 12, a corporate number 13"),
        ("", "no digits given"),
    ],
    ids=["letters", "too-short", "empty"],
)
def test_garbage_is_not_a_number_and_says_why(renkei: Run, text: str, reason: str) -> None:
    code, out, _ = renkei("numbers", "check", text)
    assert code == 1
    assert out.startswith("unknown: INVALID — ")
    assert reason in out
    assert out.count("\n") == 1


def test_numbers_check_without_a_number_is_a_usage_error(
    renkei: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        renkei("numbers", "check")
    assert caught.value.code == 2
    assert "the following arguments are required: number" in capsys.readouterr().err


# ---- legal check and list ------------------------------------------------------------------

CHILD_TAX = ("--requester", "chiyoda-child", "--affair", "child_allowance")


def test_an_allowed_exchange_between_offices_names_its_row(renkei: Run) -> None:
    code, out, _ = renkei(
        "legal", "check", *CHILD_TAX, "--provider", "shinjuku-tax", "--item", "local_tax"
    )
    assert (code, out) == (0, "allowed by r01\n")


def test_an_exchange_inside_one_municipality_is_in_house(renkei: Run) -> None:
    code, out, _ = renkei(
        "legal", "check", *CHILD_TAX, "--provider", "chiyoda-tax", "--item", "local_tax"
    )
    assert code == 1
    assert out.startswith("refused: chiyoda-child and chiyoda-tax are offices of one municipality")
    assert "庁内連携" in out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            (*CHILD_TAX, "--provider", "shinjuku-tax", "--item", "resident_record"),
            "shinjuku-tax does not hold resident_record (it provides: local_tax, tax_certificate)",
        ),
        (
            (
                "--requester",
                "chiyoda-tax",
                "--affair",
                "child_allowance",
                "--provider",
                "shinjuku-tax",
                "--item",
                "local_tax",
            ),
            "chiyoda-tax does not perform child_allowance (it performs: local_tax_assessment)",
        ),
        (
            (*CHILD_TAX, "--provider", "tokyo-tax", "--item", "local_tax"),
            "'tokyo-tax' is not an office of the network",
        ),
        (
            (*CHILD_TAX, "--provider", "shinjuku-tax", "--item", "local_tax", "--on", "2010-01-01"),
            "is not yet in force: it applies from 2017-11-13",
        ),
    ],
    ids=["item-not-held", "affair-not-performed", "unknown-office", "before-the-row"],
)
def test_a_refused_exchange_between_offices_says_why(
    renkei: Run, args: tuple[str, ...], reason: str
) -> None:
    code, out, _ = renkei("legal", "check", *args)
    assert code == 1
    assert out.startswith("refused: ")
    assert reason in out


def test_kinds_can_be_checked_instead_of_offices(renkei: Run) -> None:
    code, out, _ = renkei(
        "legal", "check", "--requester", "municipality", "--affair", "child_allowance",
        "--provider", "municipality", "--item", "local_tax", "--item", "resident_record",
    )  # fmt: skip
    assert (code, out) == (0, "allowed by r01, r02\n")


def test_a_refusal_between_kinds_says_what_the_table_allows(renkei: Run) -> None:
    code, out, _ = renkei(
        "legal", "check", "--requester", "municipality", "--affair", "child_allowance",
        "--provider", "national_tax", "--item", "local_tax",
    )  # fmt: skip
    assert code == 1
    assert out.startswith(
        "refused: no row lets municipality ask national_tax for local_tax for child_allowance"
    )
    assert "municipality for local_tax (r01)" in out


def test_an_unknown_item_is_refused_by_name(renkei: Run) -> None:
    code, out, _ = renkei(
        "legal", "check", "--requester", "municipality", "--affair", "child_allowance",
        "--provider", "municipality", "--item", "pension",
    )  # fmt: skip
    assert (code, out) == (1, "refused: unknown information item 'pension'\n")


def test_a_bad_date_is_one_error_line_and_exit_2(renkei: Run) -> None:
    code, out, err = renkei(
        "legal", "check", *CHILD_TAX, "--provider", "chiyoda-tax", "--item", "local_tax",
        "--on", "2025-13-01",
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err == "renkei: renkei.bad_date: --on takes a date as YYYY-MM-DD, not '2025-13-01'\n"


def test_legal_list_prints_every_row(renkei: Run) -> None:
    code, out, _ = renkei("legal", "list")
    assert code == 0
    header = out.splitlines()[0]
    count = int(re.search(r"; (\d+) rows$", header).group(1))  # type: ignore[union-attr]
    rows = re.findall(r"^[rcd]\d+[a-z]? ", out, flags=re.MULTILINE)
    assert count >= 30
    assert len(rows) == count
    assert "municipality / child_allowance / municipality / local_tax" in out


# ---- init ------------------------------------------------------------------------------------


def test_init_writes_private_files_once(renkei: Run, tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, _ = renkei("--state-dir", str(state), "init")
    files = sorted(p for p in state.rglob("*") if p.is_file())
    ids = identities(load_rules(Settings())[1])
    assert code == 0
    assert out == f"{len(files)} files written under {state} (existing ones kept)\n"
    assert len(files) == 3 + 3 * len(ids)
    assert {p.stem for p in state.glob("public/*.pub")} == set(ids)
    assert {p.name for p in state.iterdir()} == {"public", *ids}  # one folder per identity
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in state.iterdir():
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

    before = {p: p.read_bytes() for p in files}
    code, out, _ = renkei("--state-dir", str(state), "init")
    assert (code, out) == (0, f"0 files written under {state} (existing ones kept)\n")
    assert {p: p.read_bytes() for p in files} == before

    loaded = State.load(state, ["chiyoda-tax"])
    assert (
        loaded.keys["chiyoda-tax"].to_seed().hex().encode()
        == before[state / "chiyoda-tax/private-key"]
    )


def test_init_replaces_only_what_is_missing(renkei: Run, tmp_path: Path) -> None:
    state = tmp_path / "state"
    renkei("--state-dir", str(state), "init")
    master = (state / "token/token-master").read_bytes()
    (state / "token/token-master").unlink()
    (state / "hub/broker-password").unlink()
    public = (state / "public/hub.pub").read_bytes()
    (state / "public/hub.pub").unlink()
    code, out, _ = renkei("--state-dir", str(state), "init")
    assert (code, out) == (0, f"3 files written under {state} (existing ones kept)\n")
    assert (state / "token/token-master").read_bytes() != master  # a new one: it was gone
    assert (state / "public/hub.pub").read_bytes() == public  # from the hub's key on file


def test_init_refuses_a_new_private_key_beside_a_public_one_kept(
    renkei: Run, tmp_path: Path
) -> None:
    """A private key lost while its public key stays would get a stranger beside it: every
    host would refuse the identity's signatures. init says so and writes nothing."""
    state = tmp_path / "state"
    renkei("--state-dir", str(state), "init")
    (state / "hub/private-key").unlink()
    (state / "token/broker-password").unlink()
    code, out, err = renkei("--state-dir", str(state), "init")
    assert code == 2, out
    assert f"{state}/public/hub.pub exists but {state}/hub/private-key is missing" in err
    assert not (state / "hub/private-key").exists()
    assert not (state / "token/broker-password").exists()  # nothing written


# ---- records without a database --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("records", "show", "--office", "chiyoda-child", "--local-id", "C0000001"), "Pass --db"),
        (("records", "verify"), "pass --db"),
        (("records", "disclose", str(uuid.UUID(int=1)), "--reason", "closed"), "pass --db"),
    ],
    ids=["show", "verify", "disclose"],
)
def test_records_without_a_database_stop_with_one_clear_line(
    renkei: Run, argv: tuple[str, ...], says: str
) -> None:
    code, out, err = renkei(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("renkei: renkei.no_database: records live in PostgreSQL")
    assert says in err
    assert err.count("\n") == 1


# ---- the portal ------------------------------------------------------------------------------


def test_the_portal_says_it_needs_the_network(renkei: Run) -> None:
    code, _, err = renkei("run", "portal")
    assert code == 2
    assert "renkei: renkei.no_network: the portal asks the hub: set RENKEI_BROKER_URL" in err


def test_the_portal_says_where_the_ca_chain_is_missing(
    renkei: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENKEI_BROKER_URL", "amqp://guest:guest@127.0.0.1:1/")
    code, _, err = renkei("portal", "serve", "--ca-file", "nowhere.pem")
    assert code == 2
    assert "renkei.no_ca: nowhere.pem: No such file or directory" in err
