"""The codes the offices answer with (``agencies/README.md``, "Error codes"): each declared
once here, named after its code. J-LIS's numbering errors are ``jlis/exceptions.py``, the
registry's and the population's their packages'.

An office refuses an application under its own name (``nta.duplicate``,
``chiyoda_resident.signer_mismatch``): those codes are declared with ``<office>`` in place of
the name, and :func:`office_code` puts the office there.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPLICATION_DUPLICATE",
    "APPLICATION_NOT_AN_APPLICATION",
    "APPLICATION_NOT_OUR_RESIDENT",
    "APPLICATION_SIGNATURE_INVALID",
    "APPLICATION_SIGNER_MISMATCH",
    "ISSUANCE_MOVE_OUT_PENDING",
    "ISSUANCE_NO_NUMBER",
    "ISSUANCE_NO_SEAL",
    "ISSUANCE_SUPPORT_MEASURE",
    "ISSUANCE_TAX_ELSEWHERE",
    "MUNICIPALITY_MOVE_IN_BEFORE_MOVE_OUT",
    "MUNICIPALITY_MOVE_IN_NOT_DELIVERED",
    "MUNICIPALITY_NO_FOUR_FACTS",
    "MUNICIPALITY_NO_MOVE_OUT",
    "OFFICE_BAD_APPLICATION",
    "OFFICE_MOVE_OUT_REFUSED",
    "OFFICE_MOVE_OUT_UNSENT",
    "REGISTER_ALREADY_APPLIED",
    "REGISTER_BAD_FILING",
    "REGISTER_JUKI_ANSWER",
    "REGISTER_NOT_DELIVERED",
    "REGISTER_NOT_ON_REGISTER",
    "REGISTER_OUT_OF_ORDER",
    "REGISTER_UNCONFIRMED",
    "office_code",
]

# a register's link to J-LIS over 住基ネット (``municipality/juki.py``): J-LIS's answer is not one
REGISTER_JUKI_ANSWER: Final = "register.juki_answer"

# an office refusing an electronic application (``applications.py``; the signature check is the
# composition root's, ``renkei/pki_checks.py``)
APPLICATION_DUPLICATE: Final = "<office>.duplicate"
APPLICATION_NOT_AN_APPLICATION: Final = "<office>.not_an_application"
APPLICATION_NOT_OUR_RESIDENT: Final = "<office>.not_our_resident"
APPLICATION_SIGNER_MISMATCH: Final = "<office>.signer_mismatch"
APPLICATION_SIGNATURE_INVALID: Final = "<office>.signature_invalid"
# the moving one-stop (``municipality/moving.py``)
OFFICE_BAD_APPLICATION: Final = "office.bad_application"
OFFICE_MOVE_OUT_REFUSED: Final = "office.move_out_refused"
OFFICE_MOVE_OUT_UNSENT: Final = "office.move_out_unsent"
MUNICIPALITY_NO_MOVE_OUT: Final = "municipality.no_move_out"
MUNICIPALITY_NO_FOUR_FACTS: Final = "municipality.no_four_facts"  # a 転入 record without them
MUNICIPALITY_MOVE_IN_BEFORE_MOVE_OUT: Final = "municipality.move_in_before_move_out"
MUNICIPALITY_MOVE_IN_NOT_DELIVERED: Final = "municipality.move_in_not_delivered"
# the register events at the municipal desk (``municipality/register_desk.py``)
REGISTER_BAD_FILING: Final = "register.bad_filing"  # malformed, oversized, missing a field
REGISTER_NOT_ON_REGISTER: Final = "register.not_on_register"
REGISTER_ALREADY_APPLIED: Final = "register.already_applied"  # a duplicate event
REGISTER_OUT_OF_ORDER: Final = "register.out_of_order"  # after a death, after a move out …
REGISTER_NOT_DELIVERED: Final = "register.not_delivered"  # the hub refused the change event
REGISTER_UNCONFIRMED: Final = "register.unconfirmed"  # no reply: retry under the event id
# a municipality's answer to the certificate issuance centre (``municipality/issuance.py``)
ISSUANCE_SUPPORT_MEASURE: Final = "municipality.support_measure"
ISSUANCE_MOVE_OUT_PENDING: Final = "municipality.move_out_pending"
ISSUANCE_NO_SEAL: Final = "municipality.no_seal"
ISSUANCE_TAX_ELSEWHERE: Final = "municipality.tax_elsewhere"  # not assessed here that year
ISSUANCE_NO_NUMBER: Final = "municipality.no_number"  # the register bears no number to print


def office_code(office: str, code: str) -> str:
    """``code`` under an office's name: ``chiyoda-resident`` and ``<office>.duplicate`` give
    ``chiyoda_resident.duplicate`` (a wire code has no hyphen)."""
    return code.replace("<office>", office.replace("-", "_"), 1)
