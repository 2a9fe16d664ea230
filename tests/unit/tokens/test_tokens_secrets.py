"""The master secret file: private or refused, hex or base64, and never shown."""

from __future__ import annotations

import base64
import os
import pickle
from pathlib import Path

import pytest

from token_service import (
    KeyRing,
    Secret,
    SecretFileError,
    create_master_secret,
    load_master_secret,
)

KEY = bytes(range(32, 80))  # 48 bytes


def write(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        KEY.hex().upper() + "\n",
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        "  \n" + base64.b64encode(KEY).decode() + "\n\n",
    ],
)
def test_loads_hex_or_base64(tmp_path: Path, text: str) -> None:
    assert load_master_secret(write(tmp_path / "master", text)) == KEY


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    assert load_master_secret(write(tmp_path / "master", KEY.hex(), mode)) == KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o610])
def test_files_open_to_others_are_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "master", KEY.hex(), mode)
    with pytest.raises(SecretFileError) as info:
        load_master_secret(path)
    assert info.value.code == "token.secret_file"
    assert f"mode {mode:04o}" in str(info.value)
    assert f"chmod 600 {path}" in str(info.value)
    assert KEY.hex() not in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (bytes(31).hex(), "31 bytes of key material; at least 32"),
        ("", "0 bytes"),
        ("not a key, just words!", "neither hex nor base64"),
        ("x" * 5000, "larger than 4096 bytes"),
    ],
)
def test_bad_contents_are_refused(tmp_path: Path, content: str, problem: str) -> None:
    with pytest.raises(SecretFileError) as info:
        load_master_secret(write(tmp_path / "master", content))
    assert problem in str(info.value)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="no master secret file"):
        load_master_secret(tmp_path / "absent")
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(SecretFileError, match="not a regular file"):
        load_master_secret(folder)


def test_create_writes_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "master"
    create_master_secret(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    key = load_master_secret(path)
    assert len(key) == 32
    KeyRing(key)
    with pytest.raises(SecretFileError, match="refusing to overwrite"):
        create_master_secret(path)
    assert load_master_secret(path) == key
    other = tmp_path / "other"
    create_master_secret(other)
    assert load_master_secret(other) != key


def test_create_honours_a_private_mode_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_master_secret(tmp_path / "master")
    finally:
        os.umask(old)
    assert ((tmp_path / "master").stat().st_mode & 0o777) == 0o600


def test_secret_never_shows_its_bytes() -> None:
    secret = Secret(KEY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert shown.count("Secret(<hidden>)") == 1
        assert KEY.hex() not in shown
    assert secret.reveal() == KEY
    assert secret == Secret(KEY)
    assert secret != Secret(bytes(48))
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        hash(secret)
