"""The card state file: AES-256-GCM encrypted, written atomically, locked while in use.

File layout::

    magic "RKCARD" 00 01 | kdf (1 byte) | salt (16) | nonce (12) | ciphertext+tag

``kdf`` 0: the AES key is a key file (32 random bytes as hex, mode 0600, by default
``<FILE>.key`` beside the state, made at issue). ``kdf`` 1: the key is scrypt(password,
salt; n=2^15, r=8, p=1) — for a state that must not sit beside its key. Magic, kdf and salt
are authenticated as associated data, so an altered or swapped header fails like an altered
body. Every save uses a fresh random nonce, writes a temporary file, fsyncs it, renames it
over the old one and fsyncs the directory: a save either happened or did not, even when the
process is killed. A sidecar ``<FILE>.lock`` (flock) keeps a second process — a second
emulator, or a client opening the file the emulator is serving — out.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from card_service.card.state import CardState
from card_service.exceptions import StateFileError

__all__ = ["CardStore", "StateKey"]

MAGIC = b"RKCARD\x00\x01"
_KEYFILE, _SCRYPT = 0, 1
_HEADER = len(MAGIC) + 1 + 16


@dataclass(frozen=True, slots=True)
class StateKey:
    """Where the file key comes from: a key file, or a password. ``repr`` hides the password."""

    key_file: Path | None = None
    password: bytes | None = None

    def __repr__(self) -> str:
        return f"StateKey(key_file={self.key_file}, password={'***' if self.password else None})"

    @classmethod
    def beside(cls, state: Path) -> StateKey:
        return cls(key_file=state.with_name(state.name + ".key"))

    def derive(self, kdf: int, salt: bytes, *, create: bool = False) -> bytes:
        if kdf == _SCRYPT:
            if self.password is None:
                raise StateFileError("this card state is protected by a password: give one")
            return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(self.password)
        if self.key_file is None:
            raise StateFileError("this card state is protected by a key file: give it")
        if create and not self.key_file.exists():
            _write_new(self.key_file, secrets.token_bytes(32).hex().encode())
        try:
            if self.key_file.stat().st_mode & 0o077:
                raise StateFileError(f"{self.key_file} is readable by others; chmod 600 it")
            key = bytes.fromhex(self.key_file.read_text().strip())
        except FileNotFoundError:
            raise StateFileError(f"the card key file {self.key_file} is missing") from None
        except ValueError:
            raise StateFileError(f"{self.key_file} is not a hex key") from None
        if len(key) != 32:
            raise StateFileError(f"{self.key_file} must hold 32 bytes")
        return key


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StateFileError(f"{path} exists: refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class CardStore:
    """One open card state file. Use :meth:`create` or :meth:`open`; :meth:`close` unlocks."""

    def __init__(self, path: Path, header: bytes, key: bytes, lock_fd: int) -> None:
        self.path = path
        self._header = header
        self._aead = AESGCM(key)
        self._lock_fd = lock_fd

    def __repr__(self) -> str:
        return f"CardStore({self.path})"

    @staticmethod
    def _lock(path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateFileError(
                f"the card state {path} is in use by another process "
                "(is `renkei card emulate` serving it? then use the reader)"
            ) from None
        return fd

    @classmethod
    def create(cls, path: Path, state: CardState, key: StateKey) -> CardStore:
        if path.exists():
            raise StateFileError(f"{path} exists: refusing to overwrite a card")
        kdf = _KEYFILE if key.password is None else _SCRYPT
        salt = secrets.token_bytes(16)
        header = MAGIC + bytes((kdf,)) + salt
        store = cls(path, header, key.derive(kdf, salt, create=True), cls._lock(path))
        try:
            store.save(state)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, path: Path, key: StateKey) -> tuple[CardStore, CardState]:
        lock = cls._lock(path)
        try:
            return cls._open(path, key, lock)
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def _open(cls, path: Path, key: StateKey, lock: int) -> tuple[CardStore, CardState]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise StateFileError(f"no card state at {path}: issue one first") from None
        if len(raw) < _HEADER + 12 + 16 or not raw.startswith(MAGIC):
            raise StateFileError(f"{path} is not a card state file")
        header, nonce, body = raw[:_HEADER], raw[_HEADER : _HEADER + 12], raw[_HEADER + 12 :]
        file_key = key.derive(header[len(MAGIC)], header[len(MAGIC) + 1 :])
        store = cls(path, header, file_key, lock)
        try:
            plain = store._aead.decrypt(nonce, body, header)
        except InvalidTag:
            raise StateFileError(f"{path}: wrong key, or the file was altered") from None
        return store, CardState.from_bytes(plain)

    def save(self, state: CardState) -> None:
        nonce = secrets.token_bytes(12)
        blob = self._header + nonce + self._aead.encrypt(nonce, state.to_bytes(), self._header)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StateFileError(f"cannot write the card state {self.path}: {exc}") from None
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
