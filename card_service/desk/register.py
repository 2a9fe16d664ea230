"""The desk's identity check (番号法 第16条, 第17条): a card only for a resident on the register.

The municipality issues the card to its own resident, so the desk checks the applicant against
the record its own resident register keeps (the same body: 庁内, no network message): there is a
record under the id the clerk looked up, it shows no move out filed and no death, the number it
bears (住基法 第7条第8号の2; a number replaced on leak is refused) is the applicant's, and its four
facts (氏名・住所・生年月日・性別) are the applicant's, compared as ``hub.identity`` compares
them everywhere. Pure: the composition root reads the record (``renkei card issue --register
OFFICE --local-id ID``), the desk decides. A refusal names what differs, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from card_service.desk.resident import Resident
from card_service.exceptions import NotOnRegister, RegisterMismatch
from hub.identity import FACT_NAMES, mismatched
from hub.wire import Facts

__all__ = ["check_on_register"]


def check_on_register(resident: Resident, record: Mapping[str, Any] | None) -> None:
    """Raise unless ``record`` (the register's, or None: none under that id) is the resident's."""
    if record is None:
        raise NotOnRegister("no resident under that id on the register: a card is issued only"
                            " to a resident of this municipality")  # fmt: skip
    if record.get("move_out"):
        raise NotOnRegister(
            "the register shows a move out filed for this resident: the card is issued by the"
            " municipality they move to"
        )
    if record.get("died"):
        raise NotOnRegister("the register shows this resident died: no card is issued")
    kept = record.get("number")
    if kept is not None and kept != resident.number:
        raise RegisterMismatch(
            "the applicant's individual number (個人番号) is not the one the register bears: a"
            " number replaced (番号法 第7条第2項) is no longer in use"
        )
    try:
        facts = Facts(
            name=resident.name,
            address=resident.address,
            birth_date=resident.birth_date.isoformat(),
            sex=resident.sex,
        )
    except ValidationError:
        raise RegisterMismatch(
            "the applicant's four facts are not in the register's form"
        ) from None
    differ = mismatched(facts, record)
    if differ:
        named = ", ".join(f"{FACT_NAMES[f]} ({f})" for f in differ)
        raise RegisterMismatch(
            f"the applicant's {named} differ from the register's: a card is issued only as the"
            " register records the resident (番号法 第16条)"
        )
