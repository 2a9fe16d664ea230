"""The individual number card: APDU-level emulator, PC/SC access, issuance, client.

Pure cores: :mod:`apdu` (command/response APDUs), :mod:`tlv` (loose BER-TLV), :mod:`pins`
(PIN rules), :mod:`layout` (applications and EFs), :mod:`state` and :class:`Card` (the card
as a state machine), :mod:`texts` and :mod:`resident`. I/O at the edges: :mod:`store` (the
encrypted state file), :mod:`persistent` (durable before the answer; the in-process
transport), :mod:`vpcd` (the emulator's reader link), :mod:`pcsc` (pyscard),
:mod:`ca_http` (the CA over HTTP). Use: :class:`CardClient` with :mod:`jpki` functions and
:func:`issue_card`; :func:`create_bridge_app` serves the card to a resident portal on
localhost (:mod:`bridge`, with the pure :mod:`bridge_forms` and :mod:`bridge_pages`). See
README.md.
"""

from card_service import jpki
from card_service.access import open_card
from card_service.apdu import Command, Response, describe_sw
from card_service.bridge import create_bridge_app
from card_service.ca_http import DEFAULT_CA_URL, HttpCa
from card_service.card import Card
from card_service.client import CardClient
from card_service.desk import MemoryTransport, issue_to_file
from card_service.errors import (
    ApduError,
    CardError,
    CardRemoved,
    CardStatusError,
    IssuanceError,
    NoCard,
    NotFound,
    PcscMissing,
    PinBlocked,
    PinFormatError,
    ResidentError,
    SecurityNotSatisfied,
    StateFileError,
    TlvError,
    WrongPin,
)
from card_service.issuance import CertificateAuthority, IssuedCard, Pins, issue_card
from card_service.layout import ATR
from card_service.persistent import LocalTransport, PersistentCard
from card_service.pins import PinRule, check_pin
from card_service.resident import Resident
from card_service.state import CardState
from card_service.store import CardStore, StateKey
from card_service.texts import CardText
from card_service.transport import Transport
from card_service.vpcd import DEFAULT_PORT, VpcdLink

__all__ = [
    "ATR",
    "DEFAULT_CA_URL",
    "DEFAULT_PORT",
    "ApduError",
    "Card",
    "CardClient",
    "CardError",
    "CardRemoved",
    "CardState",
    "CardStatusError",
    "CardStore",
    "CardText",
    "CertificateAuthority",
    "Command",
    "HttpCa",
    "IssuanceError",
    "IssuedCard",
    "LocalTransport",
    "MemoryTransport",
    "NoCard",
    "NotFound",
    "PcscMissing",
    "PersistentCard",
    "PinBlocked",
    "PinFormatError",
    "PinRule",
    "Pins",
    "Resident",
    "ResidentError",
    "Response",
    "SecurityNotSatisfied",
    "StateFileError",
    "StateKey",
    "TlvError",
    "Transport",
    "VpcdLink",
    "WrongPin",
    "check_pin",
    "create_bridge_app",
    "describe_sw",
    "issue_card",
    "issue_to_file",
    "jpki",
    "open_card",
]
