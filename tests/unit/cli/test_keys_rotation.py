"""`renkei keys rotate|retire`: a new signing key, the previous one accepted until retired."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cli_runner import Run

from hub.wire import HUB, BadSignature, OfficeKeys, PublicKeys, sign, verify_by
from renkei.secrets import State

OFFICE = "chiyoda-child"


def keys_of(root: Path, identity: str = OFFICE) -> tuple[OfficeKeys, PublicKeys]:
    loaded = State.load(root, [identity])
    return loaded.keys[identity], loaded.public[identity]


def test_rotate_keeps_the_old_key_accepted_and_the_sealing_key(renkei: Run, state: Path) -> None:
    old, _ = keys_of(state)
    others = {p.name: p.read_bytes() for p in (state / "public").iterdir() if p.stem != OFFICE}
    code, out, err = renkei("--state-dir", str(state), "keys", "rotate", OFFICE)
    assert code == 0, err
    assert f"`renkei keys retire {OFFICE}`" in out
    new, public = keys_of(state)
    assert new.to_seed()[32:] == old.to_seed()[32:]  # what was sealed to it still opens
    assert new.to_seed()[:32] != old.to_seed()[:32]
    assert public.to_text().splitlines()[0] == new.public.to_text()
    for signer in (old, new):  # both accepted during the rotation
        verify_by(b"body", sign(b"body", signer.signing), public)
    assert {p.name: p.read_bytes() for p in (state / "public").iterdir() if p.stem != OFFICE} == (
        others
    )
    for path in (state / OFFICE / "private-key", state / "public" / f"{OFFICE}.pub"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(state.rglob("*.new"))


def test_retire_stops_accepting_the_old_key(renkei: Run, state: Path) -> None:
    old, _ = keys_of(state)
    renkei("--state-dir", str(state), "keys", "rotate", OFFICE)
    code, out, err = renkei("--state-dir", str(state), "keys", "retire", OFFICE)
    assert code == 0, err
    assert "1 earlier signing key(s) no longer listed" in out
    new, public = keys_of(state)
    assert public.earlier == ()
    verify_by(b"body", sign(b"body", new.signing), public)
    with pytest.raises(BadSignature):
        verify_by(b"body", sign(b"body", old.signing), public)


def test_one_rotation_at_a_time(renkei: Run, state: Path) -> None:
    renkei("--state-dir", str(state), "keys", "rotate", OFFICE)
    before = (state / OFFICE / "private-key").read_bytes()
    code, _, err = renkei("--state-dir", str(state), "keys", "rotate", OFFICE)
    assert code == 2
    assert f"`renkei keys retire {OFFICE}` first" in err
    assert (state / OFFICE / "private-key").read_bytes() == before
    renkei("--state-dir", str(state), "keys", "retire", OFFICE)
    code, _, err = renkei("--state-dir", str(state), "keys", "retire", OFFICE)
    assert (code, err) == (
        2,
        f"renkei: renkei.secrets: {OFFICE} has no earlier signing key to retire\n",
    )
    assert renkei("--state-dir", str(state), "keys", "rotate", OFFICE)[0] == 0  # again, later


@pytest.mark.parametrize(
    ("identity", "says"),
    [
        (HUB, "the hub's signing key seals the access records"),
        ("nobody", "renkei.unknown_identity: no identity 'nobody'"),
    ],
)
def test_the_hub_and_strangers_are_refused(
    renkei: Run, state: Path, identity: str, says: str
) -> None:
    files = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    code, _, err = renkei("--state-dir", str(state), "keys", "rotate", identity)
    assert code == 2
    assert says in err
    assert {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} == files


def test_a_public_file_of_another_key_is_refused(renkei: Run, state: Path) -> None:
    (state / "public" / f"{OFFICE}.pub").write_text(OfficeKeys.generate().public.to_text())
    before = (state / OFFICE / "private-key").read_bytes()
    code, _, err = renkei("--state-dir", str(state), "keys", "rotate", OFFICE)
    assert code == 2
    assert "does not hold the public keys of" in err
    assert (state / OFFICE / "private-key").read_bytes() == before
