"""Keys and secrets: made in memory for the embedded demo, or kept in the state directory.

Each role holds only its own secrets (DESIGN §2 rule 8), so each identity's private files sit
in a folder of their own that can be copied to its host alone (every secret file mode 0600,
every folder 0700, made by ``renkei init``, never overwritten)::

    public/<identity>.pub           every identity's public keys: copy to every host
    <identity>/private-key          its private keys (64 bytes, hex: Ed25519 ‖ X25519)
    <identity>/broker-password      its RabbitMQ password
    token/token-master              the token service's master secret (tokens derive from it)
    hub/context-key                 the hub's key for sealed routing contexts
    jlis/numbering-secret           J-LIS's numbering secret

A process loads what its identity holds and the public keys, nothing more: ``renkei run hub``
reads ``hub/`` and ``public/``. The directory ``renkei init`` fills holds every role's files:
it is the operator's, and what each host gets is ``public/`` and that host's identity folder.

An identity's signing key is rotated in place (``rotate_signing_key``, ``renkei keys rotate``):
a new signing key in ``<identity>/private-key`` (its sealing key kept), and the previous
verify key listed after the current pair in ``public/<identity>.pub``, accepted until
``retire_earlier_keys`` (``renkei keys retire``) drops it; docs/operations.md has the order.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.wire import HUB, JLIS, OfficeKeys, PublicKeys
from renkei.exceptions import SecretsError
from token_service import load_master_secret

__all__ = [
    "SHARED",
    "TOKEN",
    "State",
    "replace_private",
    "retire_earlier_keys",
    "rotate_signing_key",
    "write_private",
]

TOKEN = "token"  # noqa: S105 — the token service's identity, not a password
PUBLIC = "public"
PRIVATE_KEY, BROKER_PASSWORD = "private-key", "broker-password"
SHARED = {  # the one identity that holds each shared secret → (State field, its file)
    TOKEN: ("token_master", "token-master"),
    HUB: ("context_key", "context-key"),
    JLIS: ("numbering", "numbering-secret"),
}
# folders of the state directory that are not identities (the CA's, the demo card's, the
# secrets of compose.yaml's own services, the layout before per-role folders)
RESERVED = frozenset({PUBLIC, "pki", "card", "compose", "secrets", "keys", "broker"})
_OLD_SHARED = {
    TOKEN: "secrets/token-master",
    HUB: "secrets/hub-context",
    JLIS: "secrets/jlis-numbering",
}


def write_private(path: Path, data: bytes) -> None:
    """A new file of mode 0600 (its folders 0700); an existing one is an error, never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def replace_private(path: Path, data: bytes) -> None:
    """``path`` rewritten whole or not at all (a new file renamed over it), mode 0600."""
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)  # left by an interrupted rewrite: ours, never read
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(new, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _missing(root: Path, identity: str, name: str) -> SecretsError:
    path = root / identity / name
    if any((root / d).is_dir() for d in ("secrets", "keys", "broker")):
        return SecretsError(f"{path} is missing: {root} has the old layout, run `renkei init`")
    return SecretsError(
        f"{path} is missing: run `renkei init` first ({identity}'s own file; on a host of its "
        f"own, copy {identity}/ and {PUBLIC}/ from the directory `renkei init` filled)"
    )


def _own(root: Path, identity: str, name: str) -> Path:
    path = root / identity / name
    if not path.exists():
        raise _missing(root, identity, name)
    return path


def _hex(root: Path, identity: str, name: str) -> bytes:
    """The token service's careful loader (a private regular file of hex) for every key file."""
    return load_master_secret(_own(root, identity, name))


def _text(root: Path, identity: str, name: str) -> str:
    path = _own(root, identity, name)
    if path.stat().st_mode & 0o077:
        raise SecretsError(f"{path} is readable by others; chmod 600 it")
    return path.read_text().strip()


@dataclass(frozen=True, slots=True)
class State:
    """Secrets and keys: of a whole deployment (``generate``, the demo) or of one role
    (``load``, ``for_role``), where the shared secrets of the roles it is not are ``None``.
    ``repr`` never shows them."""

    token_master: bytes | None  # the token service's only
    context_key: bytes | None  # the hub's only
    numbering: bytes | None  # J-LIS's only
    keys: dict[str, OfficeKeys]  # the private keys this state holds, by identity
    passwords: dict[str, str]  # their broker passwords
    public: dict[str, PublicKeys]  # every identity's public keys

    def __repr__(self) -> str:
        return f"State(identities={sorted(self.keys)})"

    @classmethod
    def generate(cls, identities: Iterable[str]) -> State:
        """A whole deployment: every identity's keys and password, every shared secret."""
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

    def for_role(self, *identities: str) -> State:
        """What a process of ``identities`` gets: their private keys, passwords and shared
        secrets, and everyone's public keys."""
        ids = set(identities)
        return State(
            token_master=self.token_master if TOKEN in ids else None,
            context_key=self.context_key if HUB in ids else None,
            numbering=self.numbering if JLIS in ids else None,
            keys={i: k for i, k in self.keys.items() if i in ids},
            passwords={i: p for i, p in self.passwords.items() if i in ids},
            public=self.public,
        )

    def secret_of(self, identity: str) -> bytes:
        """The shared secret ``identity`` holds (``token``, ``hub``, ``jlis``), if held here."""
        field, name = SHARED[identity]
        value: bytes | None = getattr(self, field)
        if value is None:
            raise SecretsError(f"{identity}'s {name} is not held here: only {identity} loads it")
        return value

    def require(self, identities: Iterable[str]) -> None:
        """Refuse to start a service whose own keys (or shared secret) this state lacks."""
        for i in identities:
            if i not in self.keys or i not in self.passwords:
                raise SecretsError(f"this process holds no private keys of {i}")
            if i in SHARED:
                self.secret_of(i)

    @staticmethod
    def load_public(root: Path) -> dict[str, PublicKeys]:
        """Every identity's public keys: all a process needs to know of the others."""
        found = {
            p.stem: PublicKeys.from_text(p.read_text())
            for p in sorted((root / PUBLIC).glob("*.pub"))
        }
        if not found:
            raise SecretsError(
                f"no public keys under {root / PUBLIC}: run `renkei init` (or copy {PUBLIC}/ "
                "from the directory it filled)"
            )
        return found

    @staticmethod
    def load_secret(root: Path, identity: str) -> bytes:
        """One shared secret from its holder's folder, e.g. the token master from ``token/``."""
        return _hex(root, identity, SHARED[identity][1])

    @classmethod
    def load(cls, root: Path, identities: Iterable[str]) -> State:
        """What the named identities hold, and everyone's public keys (a process names its own)."""
        ids = sorted(set(identities))
        shared = {SHARED[i][0]: cls.load_secret(root, i) for i in ids if i in SHARED}
        return cls(
            token_master=shared.get("token_master"),
            context_key=shared.get("context_key"),
            numbering=shared.get("numbering"),
            keys={i: OfficeKeys.from_seed(_hex(root, i, PRIVATE_KEY)) for i in ids},
            passwords={i: _text(root, i, BROKER_PASSWORD) for i in ids},
            public=cls.load_public(root),
        )

    @classmethod
    def load_passwords(cls, root: Path, identities: Iterable[str]) -> State:
        """The broker passwords of the named identities and nothing else: what the operator's
        ``renkei broker setup`` needs."""
        return cls(
            token_master=None,
            context_key=None,
            numbering=None,
            keys={},
            passwords={i: _text(root, i, BROKER_PASSWORD) for i in sorted(set(identities))},
            public={},
        )

    def save(self, root: Path) -> list[Path]:
        """Write what is not there yet; never overwrite a secret. Returns the files written.

        A directory of the layout before per-role folders has its files moved first."""
        clash = RESERVED & (set(self.keys) | set(self.public))
        if clash:
            raise SecretsError(f"{', '.join(sorted(clash))}: a folder of the state directory")
        _move_old_layout(root)
        files: dict[Path, bytes] = {}
        for ident, (field, name) in SHARED.items():
            value = getattr(self, field)
            if value is not None:
                files[root / ident / name] = value.hex().encode()
        for ident, key in self.keys.items():
            files[root / ident / PRIVATE_KEY] = key.to_seed().hex().encode()
            files[root / ident / BROKER_PASSWORD] = self.passwords[ident].encode()
        for ident, made in self.public.items():
            path, held = root / PUBLIC / f"{ident}.pub", root / ident / PRIVATE_KEY
            pub = made
            if not path.exists() and held.exists():  # the key on file, not this state's new one
                pub = OfficeKeys.from_seed(_hex(root, ident, PRIVATE_KEY)).public
            if path.exists() and not held.exists() and ident in self.keys:
                raise SecretsError(
                    f"{path} exists but {held} is missing: put the private key back (from the "
                    f"backup of the state directory), or remove {path} to give {ident} new keys"
                )
            files[path] = pub.to_text().encode()
        written = []
        for path, data in files.items():
            if not path.exists():
                write_private(path, data)
                written.append(path)
        return written


def _on_file(root: Path, identity: str) -> tuple[OfficeKeys, PublicKeys, Path]:
    """``identity``'s private keys and public file, checked to be one key."""
    keys = OfficeKeys.from_seed(_hex(root, identity, PRIVATE_KEY))
    path = root / PUBLIC / f"{identity}.pub"
    if not path.exists():
        raise SecretsError(f"{path} is missing: run `renkei init` first")
    public = PublicKeys.from_text(path.read_text())
    if public.to_text().splitlines()[0] != keys.public.to_text():
        raise SecretsError(
            f"{path} does not hold the public keys of {root / identity / PRIVATE_KEY}: "
            "put back the files of one key (from the backup of the state directory)"
        )
    return keys, public, path


def rotate_signing_key(root: Path, identity: str) -> PublicKeys:
    """A new signing key for ``identity`` in its ``private-key`` (the sealing key is kept, so
    what was sealed to it still opens); its previous verify key stays in ``public/`` as an
    earlier key, accepted until ``retire_earlier_keys``. One rotation at a time; not the hub's
    key, which signs the access records (their verification knows one key)."""
    if identity == HUB:
        raise SecretsError(
            "the hub's signing key seals the access records, and `records verify` checks every "
            "seal with one key: rotating it is not supported (docs/operations.md)"
        )
    keys, public, path = _on_file(root, identity)
    if public.earlier:
        raise SecretsError(
            f"{identity} has an earlier signing key still accepted: once every host of "
            f"{identity} signs with its current key, `renkei keys retire {identity}` first"
        )
    new = OfficeKeys(Ed25519PrivateKey.generate(), keys.sealing)
    rotated = PublicKeys(new.public.verify, new.public.seal, (keys.public.verify,))
    replace_private(root / identity / PRIVATE_KEY, new.to_seed().hex().encode())
    replace_private(path, rotated.to_text().encode())
    return rotated


def retire_earlier_keys(root: Path, identity: str) -> int:
    """Drop ``identity``'s earlier signing keys from ``public/``: signatures made with them
    are refused wherever this file is loaded. Returns how many were dropped."""
    _, public, path = _on_file(root, identity)
    if not public.earlier:
        raise SecretsError(f"{identity} has no earlier signing key to retire")
    replace_private(path, PublicKeys(public.verify, public.seal).to_text().encode())
    return len(public.earlier)


def _move_old_layout(root: Path) -> None:
    """``secrets/``, ``keys/``, ``broker/`` (one folder per kind of file) into per-role
    folders, keeping every secret: a deployment's tokens and records depend on them."""
    moves = {root / old: root / ident / SHARED[ident][1] for ident, old in _OLD_SHARED.items()}
    for key in sorted(root.glob("keys/*.key")):
        moves[key] = root / key.stem / PRIVATE_KEY
    for pub in sorted(root.glob("keys/*.pub")):
        moves[pub] = root / PUBLIC / pub.name
    for password in sorted(root.glob("broker/*")):
        moves[password] = root / password.name / BROKER_PASSWORD
    for old, new in moves.items():
        if not old.exists():
            continue
        if new.exists():
            raise SecretsError(f"both {old} and {new} exist: keep the one in use, remove the other")
        new.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old.rename(new)
    for folder in ("secrets", "keys", "broker"):
        if (root / folder).is_dir() and not any((root / folder).iterdir()):
            (root / folder).rmdir()
