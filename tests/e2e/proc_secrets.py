"""Which of a deployment's secrets a running process holds: its memory, environment, state.

Read as root through ``/proc/PID/maps`` and ``/proc/PID/mem`` (every readable mapping), so a
secret held in any Python object, buffer or OpenSSL key structure is found — raw or as the hex
text of its file. Used by tests/e2e/test_processes.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from renkei.secrets import SHARED, State

__all__ = ["Secret", "deployment_secrets", "held_in_files", "held_in_memory", "state_dir_of"]

_MAP = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) r")  # a readable mapping of /proc/PID/maps


@dataclass(frozen=True, slots=True)
class Secret:
    owner: str  # the identity whose secret it is
    what: str
    value: bytes

    def __str__(self) -> str:
        return f"{self.owner}'s {self.what}"


def deployment_secrets(root: Path) -> list[Secret]:
    """Every secret in the directory ``renkei init`` filled, raw and as hex text: each
    identity's two private keys and broker password, and the three shared secrets."""
    ids = [p.stem for p in (root / "public").glob("*.pub")]
    state = State.load(root, ids)
    found = []
    for owner, keys in state.keys.items():
        seed = keys.to_seed()
        for what, raw in (("signing key", seed[:32]), ("sealing key", seed[32:])):
            found += [Secret(owner, what, raw), Secret(owner, f"{what} (hex)", raw.hex().encode())]
        found.append(Secret(owner, "broker password", state.passwords[owner].encode()))
        if owner in SHARED:
            what, raw = SHARED[owner][1], state.secret_of(owner)
            found += [Secret(owner, what, raw), Secret(owner, f"{what} (hex)", raw.hex().encode())]
    return found


def _regions(pid: int) -> list[bytes]:
    out = []
    with open(f"/proc/{pid}/maps", "rb") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            if m := _MAP.match(line):
                start, end = int(m[1], 16), int(m[2], 16)
                try:
                    mem.seek(start)
                    out.append(mem.read(end - start))
                except OSError:  # [vvar] and the like: not readable through mem
                    continue
    return out


def held_in_memory(pid: int, secrets: list[Secret]) -> set[Secret]:
    """The ``secrets`` found anywhere in the memory of process ``pid`` (root only)."""
    regions = _regions(pid)
    assert sum(map(len, regions)) > 1 << 20, "the process's memory was not read"
    return {s for s in secrets if any(s.value in r for r in regions)}


def held_in_files(pid: int, folder: Path | None, secrets: list[Secret]) -> set[Secret]:
    """The ``secrets`` in the process's environment or in any file under ``folder``."""
    blobs = [Path(f"/proc/{pid}/environ").read_bytes()]
    if folder is not None:
        blobs += [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    return {s for s in secrets if any(s.value in b for b in blobs)}


def state_dir_of(pid: int) -> Path:
    """The state directory the process was started with (RENKEI_STATE_DIR in its environ)."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"RENKEI_STATE_DIR="):
            return Path(entry.split(b"=", 1)[1].decode())
    raise AssertionError(f"process {pid} has no RENKEI_STATE_DIR")
