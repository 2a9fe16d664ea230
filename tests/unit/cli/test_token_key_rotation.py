"""`renkei tokens rotate|retokenize|retire`: the order of the steps, the offices that never
rotate, and the versions file the token service reads (the stores' part: integration tests)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cli_runner import Run

from renkei.exceptions import SecretsError
from renkei.secrets import TOKEN, State
from renkei.token_keys import VERSIONS, key_ring, load_versions, save_versions
from token_service import KeyRing

OFFICE = "chiyoda-tax"


def test_rotate_teaches_the_next_version_and_keeps_making_the_current(
    renkei: Run, state: Path
) -> None:
    code, out, err = renkei("--state-dir", str(state), "tokens", "rotate", OFFICE)
    assert code == 0, err
    assert f"`renkei tokens retokenize {OFFICE}`" in out
    assert load_versions(state) == {OFFICE: (1, (1, 2))}
    path = state / TOKEN / VERSIONS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    master = State.load_secret(state, TOKEN)
    ring = key_ring(state, master)
    link = ring.link_id("12345678903")
    assert ring.token_for(link, OFFICE) == KeyRing(master).token_for(link, OFFICE)  # version 1
    assert (ring.current_of(OFFICE), ring.known_of(OFFICE)) == (1, frozenset({1, 2}))
    code, _, err = renkei("--state-dir", str(state), "tokens", "rotate", OFFICE)
    assert code == 2
    assert "renkei.token_rotation" in err
    assert "next: `tokens retokenize`" in err


@pytest.mark.parametrize(
    ("steps", "refused", "says"),
    [
        ((), "retokenize", "no rotation under way"),
        ((), "retire", "no rotation under way"),
        (("rotate",), "retire", "its store not promoted"),
    ],
)
def test_a_step_out_of_order_is_refused_and_changes_nothing(
    renkei: Run, state: Path, steps: tuple[str, ...], refused: str, says: str
) -> None:
    for step in steps:
        assert renkei("--state-dir", str(state), "tokens", step, OFFICE)[0] == 0
    before = load_versions(state)
    code, _, err = renkei("--state-dir", str(state), "tokens", refused, OFFICE)
    assert code == 2
    assert "renkei.token_rotation" in err
    assert says in err
    assert load_versions(state) == before


@pytest.mark.parametrize("office", ["hub", "myna-portal", "jlis-pki"])
def test_the_hubs_portals_and_cas_tokens_never_rotate(
    renkei: Run, state: Path, office: str
) -> None:
    code, _, err = renkei("--state-dir", str(state), "tokens", "rotate", office)
    assert code == 2
    assert "renkei.token_rotation" in err
    assert not (state / TOKEN / VERSIONS).exists()


def test_an_unknown_office_is_refused(renkei: Run, state: Path) -> None:
    code, _, err = renkei("--state-dir", str(state), "tokens", "rotate", "nowhere")
    assert code == 2
    assert "renkei.unknown_office" in err


def test_the_versions_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / TOKEN).mkdir()
    save_versions(tmp_path, {OFFICE: (2, (1, 2))})
    assert load_versions(tmp_path) == {OFFICE: (2, (1, 2))}
    path = tmp_path / TOKEN / VERSIONS
    for bad in (b"[]", b'{"a": {"current": 3, "known": [1, 2]}}', b'{"a": {"current": 1}}', b"{"):
        path.write_bytes(bad)
        with pytest.raises(SecretsError):
            load_versions(tmp_path)
