"""The state directory, one folder per role: each role loads its own files and no other's."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from hub.wire import HUB, JLIS
from renkei.exceptions import SecretsError
from renkei.secrets import TOKEN, State

IDS = [HUB, TOKEN, JLIS, "monitor", "chiyoda-tax", "chiyoda-child"]
OFFICE = "chiyoda-tax"
HOLDS = {TOKEN: "token_master", HUB: "context_key", JLIS: "numbering"}


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def host(full: Path, identity: str, into: Path) -> Path:
    """What an operator copies to the host of ``identity``: public/ and its own folder."""
    for folder in ("public", identity):
        shutil.copytree(full / folder, into / folder)
    return into


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[State, Path]:
    state = State.generate(IDS)
    state.save(tmp_path / "full")
    return state, tmp_path / "full"


def test_every_identity_has_a_folder_of_its_own_files(deployment: tuple[State, Path]) -> None:
    state, root = deployment
    assert sorted(p.name for p in root.iterdir()) == sorted(["public", *IDS])
    assert files(root / "public") == {f"{i}.pub": state.public[i].to_text().encode() for i in IDS}
    shared = {TOKEN: "token-master", HUB: "context-key", JLIS: "numbering-secret"}
    for ident in IDS:
        own = {"private-key", "broker-password"} | ({shared[ident]} if ident in shared else set())
        assert set(files(root / ident)) == own, ident
        assert stat.S_IMODE((root / ident).stat().st_mode) == 0o700
    assert (root / TOKEN / "token-master").read_text() == state.token_master.hex()  # type: ignore[union-attr]
    for path in root.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.parametrize("identity", [HUB, TOKEN, JLIS, OFFICE])
def test_a_role_loads_from_its_own_files_alone(
    deployment: tuple[State, Path], tmp_path: Path, identity: str
) -> None:
    state, root = deployment
    loaded = State.load(host(root, identity, tmp_path / "host"), [identity])
    for field in HOLDS.values():  # its own shared secret, and None for the others'
        assert getattr(loaded, field) == getattr(state.for_role(identity), field)
    held = {field for field in HOLDS.values() if getattr(loaded, field) is not None}
    assert held == ({HOLDS[identity]} if identity in HOLDS else set())
    assert [identity] == list(loaded.keys) == list(loaded.passwords)
    assert loaded.keys[identity].to_seed() == state.keys[identity].to_seed()
    assert loaded.passwords[identity] == state.passwords[identity]
    assert set(loaded.public) == set(IDS)


def test_a_roles_view_saves_to_exactly_what_its_host_gets(
    deployment: tuple[State, Path], tmp_path: Path
) -> None:
    state, root = deployment
    state.for_role(HUB).save(tmp_path / "saved")
    assert files(tmp_path / "saved") == files(host(root, HUB, tmp_path / "copied"))


@pytest.mark.parametrize(("identity", "name"), [(HUB, "context-key"), (OFFICE, "private-key")])
def test_a_missing_own_file_names_the_file_and_the_command_that_makes_it(
    deployment: tuple[State, Path], identity: str, name: str
) -> None:
    _, root = deployment
    (root / identity / name).unlink()
    with pytest.raises(SecretsError) as caught:
        State.load(root, [identity])
    assert f"{root / identity / name} is missing" in str(caught.value)
    assert "run `renkei init` first" in str(caught.value)
    assert f"copy {identity}/ and public/" in str(caught.value)


def test_a_role_is_refused_a_secret_it_does_not_hold(deployment: tuple[State, Path]) -> None:
    state, root = deployment
    office = State.load(root, [OFFICE])
    assert (office.token_master, office.context_key, office.numbering) == (None, None, None)
    for other in (TOKEN, HUB, JLIS):
        with pytest.raises(SecretsError, match=f"{other}'s .* is not held here"):
            office.secret_of(other)
        with pytest.raises(SecretsError):
            office.require([other])
    office.require([OFFICE])
    assert state.secret_of(TOKEN) == state.token_master
    with pytest.raises(SecretsError, match="no private keys of hub"):
        state.for_role(TOKEN).require([HUB])


def test_the_broker_admin_gets_passwords_and_nothing_else(deployment: tuple[State, Path]) -> None:
    state, root = deployment
    admin = State.load_passwords(root, IDS)
    assert admin.passwords == state.passwords
    assert (admin.token_master, admin.context_key, admin.numbering, admin.keys) == (
        None,
        None,
        None,
        {},
    )


def test_save_never_overwrites(deployment: tuple[State, Path]) -> None:
    _, root = deployment
    before = files(root)
    assert State.generate(IDS).save(root) == []
    assert files(root) == before


def test_the_old_layout_is_moved_with_every_secret_kept(tmp_path: Path) -> None:
    state = State.generate(IDS)
    old = {
        "secrets/token-master": state.token_master.hex(),  # type: ignore[union-attr]
        "secrets/hub-context": state.context_key.hex(),  # type: ignore[union-attr]
        "secrets/jlis-numbering": state.numbering.hex(),  # type: ignore[union-attr]
    }
    for ident in IDS:
        old[f"keys/{ident}.key"] = state.keys[ident].to_seed().hex()
        old[f"keys/{ident}.pub"] = state.public[ident].to_text()
        old[f"broker/{ident}"] = state.passwords[ident]
    root = tmp_path / "state"
    for rel, text in old.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        (root / rel).write_text(text)
        (root / rel).chmod(0o600)
    with pytest.raises(SecretsError, match="old layout, run `renkei init`"):
        State.load(root, [TOKEN])

    assert State.generate(IDS).save(root) == []  # everything was there: moved, none made anew
    assert not any((root / d).exists() for d in ("secrets", "keys", "broker"))
    state.save(tmp_path / "fresh")
    assert files(root) == files(tmp_path / "fresh")


def test_an_identity_named_like_a_folder_of_the_state_is_refused(tmp_path: Path) -> None:
    for name in ("public", "pki", "card"):
        with pytest.raises(SecretsError, match=f"{name}: a folder of the state directory"):
            State.generate([HUB, name]).save(tmp_path)
    assert not any(tmp_path.iterdir())


def test_repr_shows_no_secret(deployment: tuple[State, Path]) -> None:
    state, _ = deployment
    text = repr(state) + repr(state.for_role(TOKEN))
    assert state.token_master.hex() not in text  # type: ignore[union-attr]
    assert text == f"State(identities={sorted(IDS)})State(identities=['token'])"
