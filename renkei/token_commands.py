"""``renkei tokens rotate|retokenize|retire OFFICE``: one office's token key rotated while it
answers (docs/operations.md §5, "Token keys").

Run where the token master is held (the directory ``renkei init`` filled, ``token/``): the
token service is the only one holding the keys, so it is its secrets that re-tokenize the
office's store. Each step records where the office is in ``token/token-versions.json``
(``renkei.token_keys``) and says what to restart next.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import asyncpg

from hub.node import PgStore
from hub.wire import HUB, JLIS_PKI
from renkei.exceptions import (
    RENKEI_NO_DATABASE,
    RENKEI_TOKEN_ROTATION,
    RENKEI_UNKNOWN_OFFICE,
    CommandError,
)
from renkei.network import load_rules
from renkei.portal_commands import PORTAL
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from renkei.token_keys import VERSIONS, key_ring, load_versions, save_versions
from token_service import TokenError

__all__ = ["add_token_commands"]

# offices whose store keeps tokens outside its token column: the portal's are its documents'
# keys, the CA's are inside its documents; rotating them would lose people
_NOT_ROTATED = {
    HUB: "the hub's own token names people in the directory and the append-only access "
    "records, which cannot be re-keyed: it never rotates",
    PORTAL: "the portal keys its documents by token; its token key does not rotate",
    JLIS_PKI: "the CA keeps tokens inside its documents; its token key does not rotate",
}
_RESTART = "restart the token service's processes one at a time"


def add_token_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tokens = sub.add_parser("tokens", help="rotate an office's token key")
    tsub = tokens.add_subparsers(dest="action", required=True)
    for name, run, text in (
        ("rotate", rotate, "the token service learns the office's next key version"),
        ("retokenize", retokenize, "the office's store re-tokenized, then promoted"),
        ("retire", retire, "the office's previous key version refused from now on"),
    ):
        cmd = tsub.add_parser(name, help=text)
        cmd.add_argument("office", help="an office code (not the hub, the portal or the CA)")
        cmd.set_defaults(run=run)


def _office(settings: Settings, office: str) -> tuple[int, tuple[int, ...]]:
    """The office's (current, known) versions, after checking it may rotate."""
    codes = [o.code for o in load_rules(settings)[1]]
    if office in _NOT_ROTATED:
        raise CommandError(RENKEI_TOKEN_ROTATION, f"{office}: {_NOT_ROTATED[office]}")
    if office not in codes:
        raise CommandError(RENKEI_UNKNOWN_OFFICE, f"no office {office!r}; offices: {codes}")
    return load_versions(settings.state_dir).get(office, (1, (1,)))


# where an office is in its rotation, and the step that comes next from there
_STAGES = {
    "at rest": "no rotation under way; next: `tokens rotate`",
    "learned": "its next version is known, its store not promoted; next: `tokens retokenize`",
    "promoted": f"its store is promoted; next: {_RESTART}, then `tokens retire`",
}


def _at(settings: Settings, office: str, stage: str) -> tuple[int, tuple[int, ...]]:
    """The office's (current, known) versions, if it is at ``stage`` of its rotation."""
    current, known = _office(settings, office)
    now = "at rest" if len(known) == 1 else "learned" if current < max(known) else "promoted"
    if now != stage:
        raise CommandError(RENKEI_TOKEN_ROTATION, f"{office}: {_STAGES[now]}")
    return current, known


async def rotate(settings: Settings, args: argparse.Namespace) -> int:
    office = args.office
    current, _ = _at(settings, office, "at rest")
    if current == 255:
        raise CommandError(RENKEI_TOKEN_ROTATION, f"{office}: key version 255 is the last")
    _record(settings, office, current, (current, current + 1))
    print(
        f"{office}: key version {current + 1} known, tokens still made under {current}. Next:\n"
        f"  1. copy {settings.state_dir / TOKEN / VERSIONS} to the token service's hosts, "
        f"{_RESTART}\n"
        f"  2. `renkei tokens retokenize {office}`"
    )
    return 0


def _record(settings: Settings, office: str, current: int, known: tuple[int, ...]) -> None:
    versions = load_versions(settings.state_dir)
    versions[office] = (current, known)
    save_versions(settings.state_dir, versions)


async def _rewrite(
    settings: Settings,
    office: str,
    version: int,
    steps: Callable[[PgStore, Callable[[str], str]], Awaitable[tuple[int, int]]],
) -> tuple[int, int]:
    """``steps`` on the office's store, given the office's token → its token at ``version``,
    made by the token master's keys (held here, never by the store)."""
    if not settings.db_url:
        raise CommandError(RENKEI_NO_DATABASE, "the office's store is in PostgreSQL: pass --db")
    ring = key_ring(settings.state_dir, State.load_secret(settings.state_dir, TOKEN))

    def at_version(token: str) -> str:
        return ring.token_for(ring.link_of(token, office), office, version)

    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    try:
        return await steps(PgStore(pool, office), at_version)
    except TokenError as exc:
        raise CommandError(
            RENKEI_TOKEN_ROTATION,
            f"{office}'s store holds a token that is not {office}'s ({exc.code}: {exc}); the "
            "step stopped, what it wrote is kept: mend that document, then run the step again",
        ) from None
    finally:
        await pool.close()


async def _retoken_and_promote(store: PgStore, next_token: Callable[[str], str]) -> tuple[int, int]:
    return await store.retoken(next_token), await store.promote(next_token)


async def _settle(store: PgStore, current_token: Callable[[str], str]) -> tuple[int, int]:
    return 0, await store.settle(current_token)


async def retokenize(settings: Settings, args: argparse.Namespace) -> int:
    office = args.office
    current, known = _at(settings, office, "learned")
    new = max(known)
    written, promoted = await _rewrite(settings, office, new, _retoken_and_promote)
    _record(settings, office, new, known)
    print(
        f"{office}: {written} version-{new} token(s) written, {promoted} promoted (the version-"
        f"{current} ones kept beside them); the token service now makes version {new}. Next:\n"
        f"  1. copy {settings.state_dir / TOKEN / VERSIONS} to the token service's hosts, "
        f"{_RESTART}\n"
        f"  2. `renkei tokens retire {office}`"
    )
    return 0


async def retire(settings: Settings, args: argparse.Namespace) -> int:
    office = args.office
    current, _ = _at(settings, office, "promoted")
    _, dropped = await _rewrite(settings, office, current, _settle)
    _record(settings, office, current, (current,))
    print(
        f"{office}: {dropped} previous token(s) dropped from its store. Copy "
        f"{settings.state_dir / TOKEN / VERSIONS} to the token service's hosts and {_RESTART}: "
        f"from then on a token of {office}'s earlier versions is refused token.unknown_version"
    )
    return 0
