"""The master secret: loaded from a file only its owner can read, and never shown.

The file holds at least 32 bytes of key material as hex (tried first) or base64 (standard or
URL-safe alphabet, padding optional), surrounded by optional whitespace. A file that group or
others can read or write is refused: the secret is the whole of the token service's security.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
from binascii import Error as BinasciiError
from binascii import a2b_base64
from typing import Final, NoReturn

from token_service.exceptions import SecretFileError

__all__ = ["MAX_SECRET_FILE_BYTES", "Secret", "create_master_secret", "load_master_secret"]

MAX_SECRET_FILE_BYTES: Final = 4096
_MIN_BYTES: Final = 32
_HEX: Final = re.compile(rb"(?:[0-9a-fA-F]{2})+")


class Secret:
    """Bytes that never appear in a repr, a str, a format or a pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]  # equal secrets must not become dict keys

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def _parse(text: bytes) -> bytes:
    text = text.strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text.decode("ascii"))
    std = text.replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    try:
        return a2b_base64(std + b"=" * (-len(std) % 4), strict_mode=True)
    except BinasciiError:
        raise SecretFileError("the master secret file holds neither hex nor base64") from None


def _read(fd: int, limit: int) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = os.read(fd, limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def load_master_secret(path: str | os.PathLike[str]) -> bytes:
    """The key material in ``path``; checks the file is private (0600 or stricter) first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not hang us
    except FileNotFoundError:
        raise SecretFileError(
            f"no master secret file at {os.fspath(path)}; create one with create_master_secret"
        ) from None
    except OSError as exc:
        raise SecretFileError(f"cannot open {os.fspath(path)}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)  # of the opened file, so a swap after a check cannot fool it
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError(f"{os.fspath(path)} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretFileError(
                f"{os.fspath(path)} is open to group or others (mode {mode:04o}); the master "
                f"secret must be 0600 or stricter: chmod 600 {os.fspath(path)}"
            )
        data = _read(fd, MAX_SECRET_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretFileError(f"{os.fspath(path)} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    key = _parse(data)
    if len(key) < _MIN_BYTES:
        raise SecretFileError(
            f"{os.fspath(path)} holds {len(key)} bytes of key material; at least {_MIN_BYTES}"
            " are needed"
        )
    return key


def create_master_secret(path: str | os.PathLike[str]) -> None:
    """Write 32 fresh random bytes as hex to a new file with mode 0600; never overwrites."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretFileError(f"{os.fspath(path)} already exists; refusing to overwrite") from None
    except OSError as exc:
        raise SecretFileError(f"cannot create {os.fspath(path)}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(os.urandom(_MIN_BYTES).hex() + "\n")
