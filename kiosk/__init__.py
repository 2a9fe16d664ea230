"""コンビニ交付's kiosk: the store's multifunction machine's screen as a web page, driven by the
individual number card through PC/SC, asking the certificate issuance centre over HTTP.

:mod:`flow` (pure: the keypad, the menu, the screens' words for each refusal), :mod:`card`
(the card's part, through :class:`card_service.reader.client.CardClient`), :mod:`centre`
(the centre's HTTP API), :mod:`state` and :mod:`screens` (the pages), :mod:`web` (the aiohttp
application, ``create_app``).
"""

from kiosk.exceptions import CentreRefused, KioskError
from kiosk.web import DEFAULT_PORT, create_app

__all__ = ["DEFAULT_PORT", "CentreRefused", "KioskError", "create_app"]
