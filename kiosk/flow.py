"""The kiosk's flow, pure: one transaction at a time, its stages, the keypad, the menu, and the
words the screen shows for each outcome. No I/O: :mod:`kiosk.web` drives it.

A transaction begins when the resident has put the card down (the card's tries left read) and
ends at 終了, 中止, a refusal, the lock-out, or after ``IDLE`` without a touch. Its ``token``
rides in every form of its screens, so a stale screen or another site's post cannot act on it.
The PIN's digits live only in the transaction until 確定, never in a page (the screen shows ●).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kiosk.exceptions import FormRefused
from kiosk.payment import Payment

__all__ = [
    "IDLE",
    "MENU",
    "NUMBERED",
    "PIN_LENGTH",
    "SCREENS",
    "Choice",
    "Issued",
    "Printed",
    "Quote",
    "Screen",
    "Signed",
    "Stage",
    "Transaction",
    "copies_of",
    "locked_screen",
    "nendo",
    "ordered",
    "press",
    "print_failed_screen",
    "refunded_screen",
    "refusal_screen",
    "wrong_pin",
]

PIN_LENGTH = 4  # 利用者証明用電子証明書の暗証番号: 4 digits, 3 tries (JPKI-CARD.md)
IDLE = 180.0  # seconds without a touch: the transaction ends, the screen starts over
Stage = Literal["pin", "choose", "year", "confirm", "pay", "done"]


@dataclass(frozen=True, slots=True)
class Choice:
    """A button of the menu: what the centre is asked for (``kind``, ``options``)."""

    label: str
    note: str
    kind: str
    options: Mapping[str, str]


MENU: Mapping[str, Choice] = {
    "resident-self": Choice(
        "住民票の写し", "本人のみ", "resident_certificate", {"household": "0"}
    ),
    "resident-household": Choice(
        "住民票の写し", "世帯全員", "resident_certificate", {"household": "1"}
    ),
    "seal": Choice("印鑑登録証明書", "登録されている方のみ", "seal_certificate", {}),
    "tax": Choice("課税（所得）証明書", "年度を選べます", "tax_certificate", {}),
}  # fmt: skip


NUMBERED = frozenset({"resident_certificate"})  # may bear the 個人番号, on the resident's choice


def ordered(kind: str, options: Mapping[str, str], number: bool) -> Mapping[str, str]:
    """What the centre is asked for: the options chosen, and the number when the certificate
    may bear it and the resident chose it (default: without; 住基法 第12条の4第4項)."""
    if number and kind in NUMBERED:
        return {**options, "number": "1"}
    return options


@dataclass(frozen=True, slots=True)
class Signed:
    """The card's answer to the centre's challenge: what the print order carries."""

    challenge: str  # base64url, as the centre gave it
    signature: bytes
    certificate: bytes


@dataclass(frozen=True, slots=True)
class Quote:
    """The centre's quote: the fee of ``copies``; the tax certificate's year and the years a
    resident may choose (the latest first; none for other certificates)."""

    title: str
    fee: int
    copies: int
    max_copies: int
    fiscal_year: int | None = None
    fiscal_years: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Issued:
    """The centre's answer to the order: the municipality's PDF, the fee it charged."""

    pdf: bytes
    fee: int
    record_id: str


@dataclass(frozen=True, slots=True)
class Printed:
    copies: int  # printed, one file each
    names: tuple[str, ...]  # the files they were saved as


@dataclass(slots=True)
class Transaction:
    tries: int  # the PIN's tries left, as the card said
    at: float  # the last touch (monotonic seconds)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    stage: Stage = "pin"
    digits: str = ""
    signed: Signed | None = None
    choice: str = ""
    options: Mapping[str, str] = field(default_factory=dict)  # the choice's, the year chosen
    copies: int = 1
    number: bool = False  # the 個人番号 printed: only when the resident chose it (記載する)
    quote: Quote | None = None
    issued: Issued | None = None  # the order answered, not yet paid for
    payment: Payment | None = None
    printed: Printed | None = None

    def expired(self, now: float) -> bool:
        return now - self.at > IDLE


def press(digits: str, key: str) -> str:
    """The PIN entered so far after a key of the keypad: a digit (ignored once 4 are in), or
    ``clear`` (訂正: all of them)."""
    if key == "clear":
        return ""
    if len(key) == 1 and key in "0123456789":
        return digits if len(digits) >= PIN_LENGTH else digits + key
    raise FormRefused("このキーはありません (not a key of the keypad)")


def copies_of(value: str, most: int) -> int:
    """部数 from a form: 1 to ``most`` (the centre's limit), else refused."""
    if not (value.isascii() and value.isdigit() and len(value) <= 3):
        raise FormRefused("部数が正しくありません (copies: a number)")
    copies = int(value)
    if not 1 <= copies <= most:
        raise FormRefused(f"部数は 1〜{most} 通です (copies out of range)")
    return copies


def nendo(year: int) -> str:
    """A fiscal year as the certificate names it: 令和8年度 (令和 began in 2019: 元年)."""
    if year < 2019:
        return f"{year}年度"
    return f"令和{year - 2018 if year > 2019 else '元'}年度"


@dataclass(frozen=True, slots=True)
class Screen:
    """What a screen says: a heading and what to do."""

    title: str
    text: str


def wrong_pin(tries: int) -> str:
    warning = "次に間違えるとロックされます。" if tries == 1 else ""
    return f"暗証番号が違います。残り {tries} 回です。{warning}"


def locked_screen() -> Screen:
    return Screen(
        "暗証番号がロックされています",
        "暗証番号を続けて間違えたため、このカードの利用者証明用電子証明書は使えません。"
        "お住まいの市区町村の窓口で暗証番号の再設定をしてください。",
    )


def refunded_screen(amount: int, emoney: int = 0) -> Screen:
    """中止 during the payment: everything put in goes back, nothing is printed."""
    card = f"（うち電子マネー {emoney:,} 円は取り消しました）" if emoney else ""
    return Screen(
        "取り消しました",
        f"お支払いの {amount:,} 円をお返ししました{card}。"
        "証明書は印刷していません。お金のお取り忘れにご注意ください。",
    )


def print_failed_screen(printed: int, copies: int, amount: int) -> Screen:
    """A print that failed after payment: the fee of the copies not printed goes back."""
    done = f"{copies} 通のうち {printed} 通を印刷しました。" if printed else ""
    return Screen(
        "印刷できませんでした",
        f"{done}印刷できなかった分の手数料とおつり {amount:,} 円をお返ししました。"
        "お手数ですが店員にお知らせください。",
    )


# The refusal screens, by the kiosk's own names: which code of the centre (or of the
# municipality, passed on by the centre) shows which is the composition root's to say
# (``renkei.kiosk_commands.REFUSALS``: the codes by their declared names).
SCREENS: Mapping[str, Screen] = {
    "closed": Screen(
        "ただいまの時間はご利用いただけません",
        "ご利用時間は 6:30〜23:00 です（12月29日〜1月3日を除く）。",
    ),
    "card_refused": Screen(
        "このカードの電子証明書はご利用いただけません",
        "利用者証明用電子証明書が失効しているか、有効期限が切れています。"
        "お住まいの市区町村の窓口にお問い合わせください。",
    ),
    "support_measure": Screen(
        "コンビニでは交付できません（支援措置）",
        "住民基本台帳の支援措置（DV・ストーカー行為等の被害者の保護）の対象の方の証明書は、"
        "コンビニでは交付できません。市区町村の窓口でお申し込みください。",
    ),
    "move_out_pending": Screen(
        "コンビニでは交付できません（転出の届出）",
        "転出の届出があるため、コンビニでは交付できません。市区町村の窓口でお申し込みください。",
    ),
    "no_seal": Screen(
        "印鑑登録証明書は交付できません",
        "印鑑登録がされていません。印鑑登録は市区町村の窓口でお手続きください。",
    ),
    "tax_elsewhere": Screen(
        "この年度の課税（所得）証明書は交付できません",
        "選んだ年度の1月1日（賦課期日）にほかの市区町村にお住まいだった方の証明書は、"
        "その市区町村が交付します。その市区町村にご請求ください。"
        "ほかの年度は、最初からやり直して選べます。",
    ),
    "not_issued": Screen(
        "この証明書を交付できる記録がありません",
        "お住まいの市区町村に、この証明書の記録がありません。課税（所得）証明書は、"
        "その年度の1月1日にお住まいだった市区町村が交付します。"
        "ご不明な点は市区町村の窓口にお問い合わせください。",
    ),
    "expired": Screen(
        "本人確認ができませんでした",
        "時間が経ったか、カードの応答を確認できませんでした。最初からやり直してください。",
    ),
    "unavailable": Screen(
        "ただいま証明書を交付できません",
        "市区町村または J-LIS のシステムが応答しません。しばらくしてからお試しください。",
    ),
    "centre_unavailable": Screen(
        "ただいまご利用いただけません",
        "証明書交付センターに接続できません。しばらくしてからお試しください。",
    ),
}


def refusal_screen(code: str, message: str, screens: Mapping[str, str]) -> Screen:
    """The screen for a refusal of the centre (its code and message) or of the kiosk:
    ``screens`` names the screen of each code it knows (a name of ``SCREENS``)."""
    known = SCREENS.get(screens.get(code, ""))
    if known is not None:
        return known
    return Screen("証明書を交付できませんでした", message or "係員にお問い合わせください。")
