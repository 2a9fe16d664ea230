"""`renkei compose secrets`: the secrets of RabbitMQ and PostgreSQL beside `renkei init`'s,
private, never overwritten, all or none."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit

from cli_runner import Run

from renkei.compose import DEPLOYMENT_SECRETS, deployment_secrets


def test_they_are_written_private_under_the_state_directory(renkei: Run, tmp_path: Path) -> None:
    code, out, _ = renkei("compose", "secrets")
    assert code == 0, out
    folder = tmp_path / "var" / "compose"
    assert sorted(p.name for p in folder.iterdir()) == sorted(DEPLOYMENT_SECRETS)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_second_run_keeps_every_one(renkei: Run, tmp_path: Path) -> None:
    renkei("compose", "secrets")
    folder = tmp_path / "var" / "compose"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out, _ = renkei("compose", "secrets")
    assert code == 0
    assert "kept" in out
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_one_missing_is_not_made_anew_beside_the_others(renkei: Run, tmp_path: Path) -> None:
    """The admin password is in rabbitmq-admin.conf and in broker-admin.env: a new one in
    one file would not match the other."""
    renkei("compose", "secrets")
    folder = tmp_path / "var" / "compose"
    (folder / "broker-admin.env").unlink()
    kept = (folder / "rabbitmq-admin.conf").read_bytes()
    code, _, err = renkei("compose", "secrets")
    assert code == 2
    assert err.startswith("renkei: renkei.compose_secrets: ")
    assert "lacks broker-admin.env" in err
    assert not (folder / "broker-admin.env").exists()
    assert (folder / "rabbitmq-admin.conf").read_bytes() == kept


def test_each_password_is_fresh_and_the_same_in_each_of_its_forms() -> None:
    one, two = deployment_secrets(), deployment_secrets()
    assert set(one) == set(DEPLOYMENT_SECRETS)
    assert all(one[name] != two[name] for name in one)
    admin = urlsplit(one["broker-admin.env"].split("=", 1)[1].split(",")[0])  # its first host
    assert f"default_pass = {admin.password}\n" in one["rabbitmq-admin.conf"]
    owner = urlsplit(one["db-owner.env"].split("=", 1)[1].strip())
    hub = urlsplit(one["db-hub.env"].split("=", 1)[1].strip())
    assert (owner.password, hub.password) == (one["db-owner-password"], one["db-hub-password"])
    passwords = {admin.password, owner.password, hub.password, one["postgres-password"]}
    assert len(passwords) == 4
    assert all(len(p or "") >= 32 for p in passwords)
    # raw files end without a newline: PostgreSQL's and Erlang's readers take every byte
    for name in ("erlang-cookie", "postgres-password", "db-owner-password", "db-hub-password"):
        assert one[name].strip() == one[name]
