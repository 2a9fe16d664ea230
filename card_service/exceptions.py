"""The card's errors: one root, :class:`CardError`, each with a wire-style ``code``.

The card itself never raises to its reader: it answers a status word. These errors are what
the card's *users* see — the client turns a status word into one of them with a message a
resident can act on (``authentication PIN blocked: ask the municipality to reset it``), and
the I/O edges (state file, PC/SC, the CA) raise them too. Messages never carry a PIN, the
number or any of the four facts.
"""

from __future__ import annotations

__all__ = [
    "ApduError",
    "CardError",
    "CardRemoved",
    "CardStatusError",
    "FormError",
    "IssuanceError",
    "NoCard",
    "NoSuchFile",
    "NotOnRegister",
    "PcscMissing",
    "PinBlocked",
    "PinFormatError",
    "RegisterMismatch",
    "ResidentError",
    "SecurityNotSatisfied",
    "StateFileError",
    "TlvError",
    "WrongPin",
]


class CardError(Exception):
    """Root of every error the card service raises on purpose."""

    code = "card.error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApduError(CardError):
    """A command APDU that does not parse; ``sw`` is what a card answers to it."""

    code = "card.apdu"

    def __init__(self, message: str, sw: int = 0x6700) -> None:
        super().__init__(message)
        self.sw = sw


class TlvError(CardError):
    """BER-TLV that does not parse (truncated, indefinite length, over-long tag)."""

    code = "card.tlv"


class PinFormatError(CardError):
    """A PIN that breaks its rule; refused before it reaches the card (no try is spent)."""

    code = "card.pin_format"


class WrongPin(CardError):
    code = "card.wrong_pin"

    def __init__(self, message: str, tries_left: int) -> None:
        super().__init__(message)
        self.tries_left = tries_left


class PinBlocked(CardError):
    code = "card.pin_blocked"


class SecurityNotSatisfied(CardError):
    """``69 82``: the file or key needs a PIN that was not verified in this session."""

    code = "card.security"


class NoSuchFile(CardError):
    """``6A 82``: no such application or file on this card."""

    code = "card.not_found"


class CardStatusError(CardError):
    """Any other status word the client did not expect; ``sw`` keeps it."""

    code = "card.status"

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class CardRemoved(CardError):
    code = "card.removed"


class NoCard(CardError):
    """No reader, no card in any reader, or no card state file to fall back on."""

    code = "card.no_card"


class PcscMissing(NoCard):
    """PC/SC is not installed here (pyscard, the optional ``card`` extra); a card state file
    still works in-process, so this is a :class:`NoCard` the default fallback catches."""

    code = "card.no_pcsc"


class StateFileError(CardError):
    """The encrypted card state: missing, in use, wrong key, altered, or not writable."""

    code = "card.state"


class ResidentError(CardError):
    """The desk's resident input (JSON) is malformed or breaks a rule."""

    code = "card.resident"


class NotOnRegister(CardError):
    """The desk issues a card only to a resident on its register: none under that id, or the
    record shows the person leaving (a move out filed) or gone (番号法 第16条・第17条)."""

    code = "card.not_on_register"


class RegisterMismatch(CardError):
    """The applicant's four facts are not the register's (named, never their values)."""

    code = "card.register_mismatch"


class IssuanceError(CardError):
    """The CA refused or failed, or the card answered unexpectedly during issuance."""

    code = "card.issuance"


class FormError(CardError):
    """A posted form the bridge refuses (missing field, bad base64, odd text, foreign URL)."""

    code = "card.bridge_form"
