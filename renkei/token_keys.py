"""Which token-key version each office is at: ``token/token-versions.json`` beside the master.

The token service builds its key ring from the master secret and this file (``key_ring``), and
so do the operator's commands that make tokens (``population generate``, ``tokens …``). No file:
every office at version 1. An office is listed only once its key has been rotated::

    {"chiyoda-tax": {"current": 1, "known": [1, 2]}}

``current`` is the version the office's new tokens are made under; ``known`` the versions of
its tokens that are accepted (docs/operations.md §5, "Token keys").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import orjson

from renkei.exceptions import SecretsError
from renkei.secrets import TOKEN, replace_private
from token_service import KeyRing

__all__ = ["VERSIONS", "Versions", "key_ring", "load_versions", "save_versions"]

VERSIONS: Final = "token-versions.json"
Versions = dict[str, tuple[int, tuple[int, ...]]]  # office → (current, known)


def _path(root: Path) -> Path:
    return root / TOKEN / VERSIONS


def load_versions(root: Path) -> Versions:
    """Every office listed in the file, checked (versions 1–255, the current one known)."""
    path = _path(root)
    if not path.exists():
        return {}
    try:
        raw = orjson.loads(path.read_bytes())
        versions = {
            str(office): (int(v["current"]), tuple(sorted(int(k) for k in v["known"])))
            for office, v in raw.items()
        }
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        raise SecretsError(
            f'{path} is not {{"office": {{"current": N, "known": [N, …]}}}}'
        ) from None
    for office, (current, known) in versions.items():
        if current not in known or not all(1 <= k <= 255 for k in (current, *known)):
            raise SecretsError(f"{path}: {office}'s current version must be one of its known 1–255")
    return versions


def save_versions(root: Path, versions: Mapping[str, tuple[int, tuple[int, ...]]]) -> None:
    """The file rewritten whole or not at all (mode 0600, like every file of the folder)."""
    doc = {o: {"current": c, "known": sorted(k)} for o, (c, k) in sorted(versions.items())}
    replace_private(_path(root), orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def key_ring(root: Path, master: bytes) -> KeyRing:
    """The token service's key ring: the master secret and every office's versions."""
    return KeyRing(master, offices=load_versions(root))
