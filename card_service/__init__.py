"""The individual number card: APDU-level emulator, PC/SC access, issuance, client.

Four folders: :mod:`card_service.card` (the emulated card: APDUs, the JPKI and card-face
input support applications, PINs, keys, the state file), :mod:`card_service.reader` (PC/SC
through pyscard, the vpcd link, :class:`CardClient` and the :mod:`jpki` functions),
:mod:`card_service.desk` (:func:`issue_card` at the municipal desk, the CA over HTTP) and
:mod:`card_service.bridge` (:func:`create_bridge_app` serves the card to a resident portal on
localhost). Errors: :mod:`card_service.exceptions`. See README.md.
"""

from card_service.bridge.app import create_bridge_app
from card_service.card.apdu import Command, Response, describe_sw
from card_service.card.layout import ATR
from card_service.card.machine import Card
from card_service.card.persistent import LocalTransport, PersistentCard
from card_service.card.pins import PinRule, check_pin
from card_service.card.state import CardState
from card_service.card.store import CardStore, StateKey
from card_service.card.texts import CardText
from card_service.desk.ca_http import DEFAULT_CA_URL, HttpCa
from card_service.desk.edge import MemoryTransport, issue_to_file
from card_service.desk.issuance import CertificateAuthority, IssuedCard, Pins, issue_card
from card_service.desk.resident import Resident
from card_service.exceptions import (
    ApduError,
    CardError,
    CardRemoved,
    CardStatusError,
    IssuanceError,
    NoCard,
    NoSuchFile,
    PcscMissing,
    PinBlocked,
    PinFormatError,
    ResidentError,
    SecurityNotSatisfied,
    StateFileError,
    TlvError,
    WrongPin,
)
from card_service.reader import jpki
from card_service.reader.access import open_card
from card_service.reader.client import CardClient
from card_service.reader.transport import Transport
from card_service.reader.vpcd import DEFAULT_PORT, VpcdLink

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
    "NoSuchFile",
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
