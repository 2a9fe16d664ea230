"""``renkei run kiosk``: the convenience store's multifunction kiosk (コンビニ交付), its screen
served as a web page on the store's machine, the card read through PC/SC as ``renkei card``
reads it (:func:`renkei.card_commands.card_session`), the certificates asked of the issuance
centre over its HTTP API — never of the hub."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import sys
from pathlib import Path

from agencies.exceptions import (
    ISSUANCE_MOVE_OUT_PENDING,
    ISSUANCE_NO_SEAL,
    ISSUANCE_SUPPORT_MEASURE,
    ISSUANCE_TAX_ELSEWHERE,
)
from issuance.exceptions import (
    ISSUANCE_BAD_RESPONSE,
    ISSUANCE_CARD_REFUSED,
    ISSUANCE_CLOSED,
    ISSUANCE_NOT_ISSUED,
    ISSUANCE_UNAVAILABLE,
)
from kiosk import DEFAULT_PORT, create_app
from kiosk.centre import DEFAULT_CENTRE
from kiosk.exceptions import KIOSK_CENTRE_UNAVAILABLE
from renkei.card_commands import card_session, which_card_args
from renkei.serving import until_stopped, web_site
from renkei.settings import Settings

__all__ = ["REFUSALS", "kiosk_args", "own_origin", "serve_kiosk"]

# which of the kiosk's screens (kiosk.flow.SCREENS) each refusal shows: the centre's codes and
# the municipality's it passes on, by their declared names (any other: the centre's message)
REFUSALS = {
    ISSUANCE_CLOSED: "closed",
    ISSUANCE_CARD_REFUSED: "card_refused",
    ISSUANCE_BAD_RESPONSE: "expired",
    ISSUANCE_UNAVAILABLE: "unavailable",
    ISSUANCE_NOT_ISSUED: "not_issued",
    ISSUANCE_SUPPORT_MEASURE: "support_measure",
    ISSUANCE_MOVE_OUT_PENDING: "move_out_pending",
    ISSUANCE_NO_SEAL: "no_seal",
    ISSUANCE_TAX_ELSEWHERE: "tax_elsewhere",
    KIOSK_CENTRE_UNAVAILABLE: "centre_unavailable",
}


def kiosk_args(run: argparse.ArgumentParser) -> None:
    """``renkei run kiosk``'s own options (``--host``, ``--port``, ``--public-url`` are the
    web services' shared ones)."""
    run.add_argument(
        "--centre-url",
        default=DEFAULT_CENTRE,
        help=f"kiosk: the issuance centre's API (default {DEFAULT_CENTRE})",
    )
    run.add_argument("--printed", type=Path, help="kiosk: where printed PDFs go (default state)")
    which_card_args(run)


def own_origin(host: str, port: int, public_url: str | None) -> str:
    """The origin the kiosk's browser uses: ``--public-url``, else the address it listens on
    (a wildcard address is reached as 127.0.0.1)."""
    if public_url:
        return public_url
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


async def serve_kiosk(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port or DEFAULT_PORT
    own = own_origin(args.host, port, args.public_url)
    printed = args.printed or settings.state_dir / "kiosk" / "printed"
    app = create_app(
        functools.partial(card_session, settings, args),
        centre_url=args.centre_url,
        own_origin=own,
        refusals=REFUSALS,
        printed_dir=printed,
    )
    async with web_site(app, args.host, port):
        print(
            f"kiosk running on http://{args.host}:{port} (its screen: {own}), asking the "
            f"centre at {args.centre_url}; printed PDFs in {printed}; Ctrl-C stops it",
            file=sys.stderr,
        )
        await until_stopped(heartbeat=args.heartbeat)
    return 0
