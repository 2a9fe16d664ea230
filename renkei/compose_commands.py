"""``renkei compose file|secrets``: the docker compose deployment of ``compose/`` (its README).

``file`` prints the compose file for the office registry in force (``compose/compose.yaml`` is
its output for the packaged one); ``secrets`` writes the secrets of the deployment's services
that are not renkei's — RabbitMQ's Erlang cookie and administrator, PostgreSQL's roles, and
the ``.env`` files holding their URLs — under ``<state_dir>/compose/``, beside what
``renkei init`` wrote.
"""

from __future__ import annotations

import argparse
import sys

from renkei.compose import (
    DEPLOYMENT_SECRETS,
    HUBS,
    compose_file,
    deployment_secrets,
    prometheus_config,
    render,
    render_prometheus,
    scraped,
)
from renkei.exceptions import CommandError
from renkei.network import identities, load_rules
from renkei.secrets import write_private
from renkei.settings import Settings

__all__ = ["add_compose_commands"]

FOLDER = "compose"  # under the state directory (renkei.secrets.RESERVED: no identity's name)


def add_compose_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    compose = sub.add_parser("compose", help="the network as a docker compose deployment")
    csub = compose.add_subparsers(dest="action", required=True)
    f = csub.add_parser("file", help="print the compose file for the office registry in force")
    f.add_argument("--hubs", type=_at_least_one, default=HUBS, help=f"hub processes ({HUBS})")
    f.set_defaults(run=print_file)
    p = csub.add_parser(
        "prometheus", help="print Prometheus's configuration for that compose file (every service)"
    )
    p.add_argument("--hubs", type=_at_least_one, default=HUBS, help=f"hub processes ({HUBS})")
    p.set_defaults(run=print_prometheus)
    s = csub.add_parser(
        "secrets",
        help="write the secrets of RabbitMQ, PostgreSQL and their URLs under <state_dir>/compose",
    )
    s.set_defaults(run=write_secrets)


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number, 1 or more, not {text!r}")
    return int(text)


async def print_file(settings: Settings, args: argparse.Namespace) -> int:
    registry = load_rules(settings)[1]
    sys.stdout.write(render(compose_file(registry, identities(registry), hubs=args.hubs)))
    return 0


async def print_prometheus(settings: Settings, args: argparse.Namespace) -> int:
    registry = load_rules(settings)[1]
    services = compose_file(registry, identities(registry), hubs=args.hubs)["services"]
    sys.stdout.write(render_prometheus(prometheus_config(scraped(services))))
    return 0


async def write_secrets(settings: Settings, args: argparse.Namespace) -> int:
    """All of them or none: they hold the same passwords in several forms (a password and the
    URL with it), so one made anew beside the others would not match them."""
    folder = settings.state_dir / FOLDER
    there = [name for name in DEPLOYMENT_SECRETS if (folder / name).exists()]
    if len(there) == len(DEPLOYMENT_SECRETS):
        print(f"{folder}: every secret is there already (kept)")
        return 0
    if there:
        missing = ", ".join(n for n in DEPLOYMENT_SECRETS if n not in there)
        raise CommandError(
            "renkei.compose_secrets",
            f"{folder} lacks {missing} but holds the others, which share their passwords: "
            "restore the missing files, or remove the folder (before the first `up`) to make "
            "all of them anew",
        )
    for name, content in deployment_secrets().items():
        write_private(folder / name, content.encode())
    print(f"{len(DEPLOYMENT_SECRETS)} files written under {folder}")
    return 0
