"""``renkei keys rotate|retire IDENTITY``: an identity's signing key replaced without a pause.

The operator's steps, in the directory ``renkei init`` filled; what to copy where, and when,
is printed, and is docs/operations.md's "Rotating a signing key".
"""

from __future__ import annotations

import argparse

from renkei.exceptions import RENKEI_UNKNOWN_IDENTITY, CommandError
from renkei.network import identities, load_rules
from renkei.secrets import PUBLIC, retire_earlier_keys, rotate_signing_key
from renkei.settings import Settings

__all__ = ["add_key_commands"]


def add_key_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("keys", help="rotate an identity's signing key")
    ksub = keys.add_subparsers(dest="action", required=True)
    rotate = ksub.add_parser(
        "rotate", help="a new signing key; the previous one stays accepted until retired"
    )
    rotate.add_argument("identity", help="an office code, token or jlis (not the hub)")
    rotate.set_defaults(run=rotate_key)
    retire = ksub.add_parser(
        "retire", help="stop accepting the previous signing key (after every host has the new)"
    )
    retire.add_argument("identity")
    retire.set_defaults(run=retire_key)


def _known(settings: Settings, identity: str) -> str:
    ids = identities(load_rules(settings)[1])
    if identity not in ids:
        raise CommandError(
            RENKEI_UNKNOWN_IDENTITY, f"no identity {identity!r}; identities: {', '.join(ids)}"
        )
    return identity


async def rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    who = _known(settings, args.identity)
    root = settings.state_dir
    rotate_signing_key(root, who)
    print(
        f"{who}: a new signing key in {root / who / 'private-key'}; the previous one is still "
        f"accepted ({root / PUBLIC / f'{who}.pub'} lists it after the new one). Next:\n"
        f"  1. copy {root / PUBLIC / f'{who}.pub'} to every host, then restart the hub's "
        "processes one at a time\n"
        f"  2. copy {root / who}/ to {who}'s host and restart it: it signs with the new key\n"
        f"  3. `renkei keys retire {who}`, copy the .pub again, restart the hub's processes"
    )
    return 0


async def retire_key(settings: Settings, args: argparse.Namespace) -> int:
    who = _known(settings, args.identity)
    n = retire_earlier_keys(settings.state_dir, who)
    print(
        f"{who}: {n} earlier signing key(s) no longer listed in "
        f"{settings.state_dir / PUBLIC / f'{who}.pub'}; copy it to every host and restart the "
        "hub's processes one at a time: from then on only the current key is accepted"
    )
    return 0
