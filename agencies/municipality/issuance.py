"""証明発行: what a municipality answers the certificate issuance centre (コンビニ交付).

The municipality's 証明発行サーバ is fed from its resident register and its tax system
(REGISTER-FACTS 5.3); here each answers for what it holds — the resident register
``resident_certificate`` (住民票の写し; ``resident_certificate_number`` the same with the
個人番号, asked only on the resident's explicit choice) and ``seal_certificate`` (印鑑登録証明書),
the tax office ``tax_certificate`` (課税（所得）証明書). Pure: the answer from the office's
documents, or ``IssuanceRefused`` with the reason the kiosk shows. Refused at the kiosk
(REGISTER-FACTS 5.2 [V]): a person under a 支援措置 (DV, stalking: the counter only), and a
person who has moved out or filed a 転出届 (転出予定者) — for a 住民票 of the household too,
when any member has.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from agencies.exceptions import (
    ISSUANCE_MOVE_OUT_PENDING,
    ISSUANCE_NO_NUMBER,
    ISSUANCE_NO_SEAL,
    ISSUANCE_SUPPORT_MEASURE,
    ISSUANCE_TAX_ELSEWHERE,
)
from hub.node import BadRequest, QueryRefused

__all__ = [
    "PDF",
    "RESIDENT_CERTIFICATE",
    "RESIDENT_CERTIFICATE_NUMBER",
    "SEAL_CERTIFICATE",
    "TAX_CERTIFICATE",
    "Printer",
    "certified",
    "moved_out",
    "refusal",
    "resident_certificate",
    "seal_certificate",
    "seal_registration",
    "tax_certificate",
    "tax_elsewhere",
]

RESIDENT_CERTIFICATE = "resident_certificate"
RESIDENT_CERTIFICATE_NUMBER = "resident_certificate_number"  # with the 個人番号 (row c04)
SEAL_CERTIFICATE = "seal_certificate"
TAX_CERTIFICATE = "tax_certificate"
PDF = "pdf"  # the answer's signed certificate, base64 (when the office has a printer)
SEAL_AGE = 15  # 印鑑登録: 15 years and over (印鑑条例, the model of every municipality)


Printer = Callable[[Mapping[str, Any]], Awaitable[bytes]]
"""The municipality's 証明発行: the PDF of what it certifies, signed with its own seal (the
composition root supplies it: ``issuance.pdf``; the key is the office's own)."""


async def certified(item: str, data: Mapping[str, Any], printer: Printer | None) -> dict[str, Any]:
    """The answer: the certified data and, when the office prints, its signed PDF."""
    answer: dict[str, Any] = {item: dict(data)}
    if printer is not None:
        answer[PDF] = base64.b64encode(await printer(data)).decode("ascii")
    return answer


def seal_registration(
    local_id: str, birth_date: str, since: dt.date, on: dt.date
) -> dict[str, str]:
    """The population's 印鑑登録 fact (a model): everyone 15 or over on ``on`` registered a
    seal when they came (or on their 15th birthday); the seal is their surname."""
    born = dt.date.fromisoformat(birth_date)
    fifteen = _birthday(born, SEAL_AGE)
    if fifteen > on:
        return {}
    return {"number": f"印{local_id}", "registered": max(since, fifteen).isoformat()}


def _birthday(born: dt.date, years: int) -> dt.date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return born.replace(year=born.year + years, day=28)


def moved_out(events: Iterable[Mapping[str, Any]], person: str) -> str | None:
    """The date of a move out filed for ``person`` (this office's token), from the change
    events the office received; None when there is none."""
    for event in events:
        if event.get("person") == person and event.get("change") == "moved_out":
            return str(event.get("effective", ""))
    return None


def refusal(resident: Mapping[str, Any], move_out: str | None) -> QueryRefused | None:
    """Why the kiosk may not issue for this person, or None."""
    if resident.get("support_measure"):
        return QueryRefused(
            ISSUANCE_SUPPORT_MEASURE,
            "住民基本台帳の支援措置を受けている方の証明書はコンビニでは交付できません。"
            "市区町村の窓口でお申し込みください"
            " (under a DV/stalking support measure: counter only)",
        )
    pending = move_out or resident.get("move_out")
    if pending:
        return QueryRefused(
            ISSUANCE_MOVE_OUT_PENDING,
            f"転出の届出（{pending}）があるため、コンビニでは交付できません。"
            "窓口でお申し込みください (a move out is filed: counter only)",
        )
    return None


def _flag(params: Mapping[str, str | int], name: str) -> bool:
    value = params.get(name, 0)
    if value not in (0, 1, "0", "1"):
        raise BadRequest(f"params.{name} is 0 or 1")
    return value in (1, "1")


_MEMBER = ("name", "birth_date", "sex", "relationship")


def resident_certificate(
    resident: Mapping[str, Any],
    household: Sequence[Mapping[str, Any]],
    params: Mapping[str, str | int],
    *,
    with_number: bool = False,
) -> dict[str, Any]:
    """住民票の写し: the person, or the whole household when asked (``params.household``);
    each one's 個人番号 only ``with_number`` (the resident chose it: the item
    ``resident_certificate_number``), and then only as the register bears it — a member
    without one refuses the copy rather than print it partly."""
    whole = _flag(params, "household")
    keys = (*_MEMBER, "number") if with_number else _MEMBER
    members = [{k: m.get(k, "") for k in keys} for m in (household if whole else [resident])]
    if with_number and not all(isinstance(m["number"], str) and m["number"] for m in members):
        raise QueryRefused(
            ISSUANCE_NO_NUMBER,
            "個人番号の記載された住民票の写しは、コンビニでは交付できません。窓口でお申し込みください"
            " (the register bears no number for this record: counter only)",
        )
    return {
        "kind": RESIDENT_CERTIFICATE,
        "address": resident["address"],
        "resident_since": resident.get("resident_since", ""),
        "household": whole,
        "members": members,
    }


def seal_certificate(resident: Mapping[str, Any]) -> dict[str, Any]:
    """印鑑登録証明書: the registered seal, to its holder only."""
    seal = resident.get("seal") or {}
    if not seal:
        raise QueryRefused(
            ISSUANCE_NO_SEAL, "印鑑登録がありません (no seal is registered for this person)"
        )
    return {
        "kind": SEAL_CERTIFICATE,
        "name": resident["name"],
        "birth_date": resident["birth_date"],
        "address": resident["address"],
        "seal_number": seal["number"],
        "registered": seal["registered"],
    }


def tax_certificate(taxpayer: Mapping[str, Any], year: int) -> dict[str, Any] | None:
    """課税（所得）証明書 of one fiscal year; None when not assessed here that year."""
    record = taxpayer.get("years", {}).get(str(year))
    if record is None:
        return None
    return {"kind": TAX_CERTIFICATE, "name": taxpayer["name"], "fiscal_year": year, **record}


def tax_elsewhere(year: int) -> QueryRefused:
    """The refusal of a fiscal year not assessed here: the municipality the resident lived in
    on its 1 January (賦課期日) assessed it and issues its certificate (鹿児島市's rule for the
    kiosk [S]: 賦課期日後に転入した方は、前に住んでいた市区町村へ)."""
    return QueryRefused(
        ISSUANCE_TAX_ELSEWHERE,
        f"{year}年度の課税（所得）証明書は、{year}年1月1日にお住まいだった市区町村が交付します。"
        "その日にほかの市区町村にお住まいだった方は、その市区町村にご請求ください"
        f" (not assessed here for fiscal year {year}: the municipality of 1 January issues it)",
    )
