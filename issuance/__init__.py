"""コンビニ交付: the certificate issuance centre (証明書交付センター) and its rules."""

from issuance.exceptions import IssuanceError, IssuanceRefused
from issuance.office import CardCheck, IssuanceCentre, Issued
from issuance.rules import AFFAIR, KINDS, Order, is_open, order

__all__ = [
    "AFFAIR",
    "KINDS",
    "CardCheck",
    "IssuanceCentre",
    "IssuanceError",
    "IssuanceRefused",
    "Issued",
    "Order",
    "is_open",
    "order",
]
