"""``renkei tokens rotate|retokenize|retire OFFICE``: one office's token key rotated while it
answers (docs/operations.md §5, "Token keys").

Run where the token master is held (the directory ``renkei init`` filled, ``token/``): the
token service is the only one holding the keys, so it is its secrets that re-tokenize the
office's store. Each step records where the office is in ``token/token-versions.json``
(``renkei.token_keys``) and says what to restart next.
"""

from __future__ import annotations

import argparse

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
from token_service import KeyRing, TokenError

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


async def rotate(settings: Settings, args: argparse.Namespace) -> int:
    office = args.office
    current, known = _office(settings, office)
    if len(known) > 1:
        raise CommandError(
            RENKEI_TOKEN_ROTATION, f"{office}: a rotation is under way (versions {known})"
        )
    if current == 255:
        raise CommandError(RENKEI_TOKEN_ROTATION, f"{office}: key version 255 is the last")
    versions = load_versions(settings.state_dir)
    versions[office] = (current, (current, current + 1))
    save_versions(settings.state_dir, versions)
    print(
        f"{office}: key version {current + 1} known, tokens still made under {current}. Next:\n"
        f"  1. copy {settings.state_dir / TOKEN / VERSIONS} to the token service's hosts, "
        f"{_RESTART}\n"
        f"  2. `renkei tokens retokenize {office}`"
    )
    return 0


def _ring(settings: Settings) -> KeyRing:
    return key_ring(settings.state_dir, State.load_secret(settings.state_dir, TOKEN))


async def _store(settings: Settings, office: str) -> tuple[asyncpg.Pool, PgStore]:
    if not settings.db_url:
        raise CommandError(RENKEI_NO_DATABASE, "the office's store is in PostgreSQL: pass --db")
    pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=2)
    return pool, PgStore(pool, office)


def _refused(office: str, exc: TokenError) -> CommandError:
    return CommandError(
        RENKEI_TOKEN_ROTATION,
        f"{office}'s store holds a token that is not {office}'s ({exc.code}: {exc}); the step "
        "stopped, what it wrote is kept: mend that document, then run the step again",
    )


async def retokenize(settings: Settings, args: argparse.Namespace) -> int:
    office = args.office
    current, known = _office(settings, office)
    new = max(known)
    if new == current:
        raise CommandError(
            RENKEI_TOKEN_ROTATION,
            f"{office}: no rotation under way (`tokens rotate` first)"
            if len(known) == 1
            else f"{office}: already promoted; {_RESTART}, then `tokens retire`",
        )
    ring = _ring(settings)

    def next_token(token: str) -> str:
        return ring.token_for(ring.link_of(token, office), office, new)

    pool, store = await _store(settings, office)
    try:
        written = await store.retoken(next_token)
        promoted = await store.promote(next_token)
    except TokenError as exc:
        raise _refused(office, exc) from None
    finally:
        await pool.close()
    versions = load_versions(settings.state_dir)
    versions[office] = (new, known)
    save_versions(settings.state_dir, versions)
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
    current, known = _office(settings, office)
    if len(known) == 1 or current != max(known):
        raise CommandError(
            RENKEI_TOKEN_ROTATION,
            f"{office}: nothing to retire"
            if len(known) == 1
            else f"{office}: not promoted yet (`tokens retokenize` first)",
        )
    ring = _ring(settings)

    def current_token(token: str) -> str:
        return ring.token_for(ring.link_of(token, office), office, current)

    pool, store = await _store(settings, office)
    try:
        dropped = await store.settle(current_token)
    except TokenError as exc:
        raise _refused(office, exc) from None
    finally:
        await pool.close()
    versions = load_versions(settings.state_dir)
    versions[office] = (current, (current,))
    save_versions(settings.state_dir, versions)
    print(
        f"{office}: {dropped} previous token(s) dropped from its store. Copy "
        f"{settings.state_dir / TOKEN / VERSIONS} to the token service's hosts and {_RESTART}: "
        f"from then on a token of {office}'s earlier versions is refused token.unknown_version"
    )
    return 0
