"""Keys and secrets: made in memory for the embedded demo, or kept in the state directory.

Layout of the state directory (every secret file mode 0600, made by ``renkei init``)::

    secrets/token-master      the token service's master secret (tokens derive from it)
    secrets/hub-context       the hub's key for sealed routing contexts
    secrets/jlis-numbering    J-LIS's numbering secret
    keys/<identity>.key       an identity's private keys (64 bytes: Ed25519 ‖ X25519)
    keys/<identity>.pub       its public keys (what the rest of the network knows)
    broker/<identity>         its RabbitMQ password
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hub.wire import OfficeKeys, PublicKeys
from token_service import load_master_secret

__all__ = ["SecretsError", "State"]


class SecretsError(Exception):
    code = "renkei.secrets"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o077
        if mode:
            raise SecretsError(f"{path} is readable by others; chmod 600 it")
        return path.read_bytes()
    except FileNotFoundError:
        raise SecretsError(f"{path} is missing: run `renkei init` first") from None


@dataclass(frozen=True, slots=True)
class State:
    """All secrets of one deployment. ``repr`` never shows them."""

    token_master: bytes
    context_key: bytes
    numbering: bytes
    keys: dict[str, OfficeKeys]  # this process's own private keys
    passwords: dict[str, str]
    public: dict[str, PublicKeys]  # every identity's public keys

    def __repr__(self) -> str:
        return f"State(identities={sorted(self.keys)})"

    @classmethod
    def generate(cls, identities: Iterable[str]) -> State:
        ids = sorted(set(identities))
        keys = {i: OfficeKeys.generate() for i in ids}
        return cls(
            token_master=secrets.token_bytes(32),
            context_key=secrets.token_bytes(32),
            numbering=secrets.token_bytes(32),
            keys=keys,
            passwords={i: secrets.token_urlsafe(24) for i in ids},
            public={i: k.public for i, k in keys.items()},
        )

    @staticmethod
    def load_public(root: Path) -> dict[str, PublicKeys]:
        """Every identity's public keys: all a process needs to know of the others."""
        found = {
            p.stem: PublicKeys.from_text(p.read_text()) for p in sorted(root.glob("keys/*.pub"))
        }
        if not found:
            raise SecretsError(f"no public keys under {root}/keys: run `renkei init` first")
        return found

    def save(self, root: Path) -> list[Path]:
        """Write what is not there yet; never overwrite a secret. Returns the files written."""
        files: dict[Path, bytes] = {
            root / "secrets/token-master": self.token_master.hex().encode(),
            root / "secrets/hub-context": self.context_key.hex().encode(),
            root / "secrets/jlis-numbering": self.numbering.hex().encode(),
        }
        for ident, key in self.keys.items():
            files[root / f"keys/{ident}.key"] = key.to_seed().hex().encode()
            files[root / f"keys/{ident}.pub"] = key.public.to_text().encode()
            files[root / f"broker/{ident}"] = self.passwords[ident].encode()
        written = []
        for path, data in files.items():
            if not path.exists():
                _write(path, data)
                written.append(path)
        return written

    @classmethod
    def load(cls, root: Path, identities: Iterable[str]) -> State:
        """The secrets of the named identities only (a process loads its own)."""

        def hexfile(rel: str) -> bytes:  # the token service's careful loader, for every key file
            if not (root / rel).exists():
                raise SecretsError(f"{root / rel} is missing: run `renkei init` first")
            return load_master_secret(root / rel)

        ids = sorted(set(identities))
        return cls(
            token_master=hexfile("secrets/token-master"),
            context_key=hexfile("secrets/hub-context"),
            numbering=hexfile("secrets/jlis-numbering"),
            keys={i: OfficeKeys.from_seed(hexfile(f"keys/{i}.key")) for i in ids},
            passwords={i: _read(root / f"broker/{i}").decode().strip() for i in ids},
            public=cls.load_public(root),
        )
