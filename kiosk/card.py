"""The card's part at the kiosk, through the card client the portal's card bridge uses
(:class:`card_service.reader.client.CardClient` over PC/SC, held as the bridge holds it:
:class:`card_service.reader.serial.SerialCard`): the tries left on the user certificate's PIN,
and the PIN checked and the centre's challenge signed in one opening of the card."""

from __future__ import annotations

from card_service.card.layout import JPKI
from card_service.reader import jpki
from card_service.reader.client import CardClient

__all__ = ["sign_challenge", "tries_left"]


def tries_left(client: CardClient) -> int:
    """The user certificate's PIN's tries left (0: locked), read without the PIN."""
    client.select_app(JPKI)
    return client.tries_left(jpki.SLOTS["auth"].pin)


def sign_challenge(client: CardClient, pin: str, challenge: bytes) -> tuple[bytes, bytes]:
    """The card's signature over ``challenge`` after ``pin`` (``WrongPin``, ``PinBlocked`` …),
    and its user certificate (DER)."""
    signature = jpki.sign(client, "auth", pin, challenge)
    return signature, jpki.read_certificate(client, "auth", None)
