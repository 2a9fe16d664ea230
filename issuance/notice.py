"""The 個人番号通知書 as a PDF: what the municipality sends a resident whose number it designated.

One A4 page (reportlab, the certificates' Japanese CID font, ``pdf.FONT``): the addressee (住所,
氏名 様), then 氏名, 生年月日 and the 個人番号 in groups of four, the date of designation and why
(出生: 番号法 第7条第1項; a change on the resident's request or ex officio: 第7条第2項, the former
number no longer in use), the issuing 市区町村長, and what the notice is not (REGISTER-FACTS
§2.4: not proof of the number, not an identity document, not reissued). Not signed: it proves
nothing, and the municipality's seal is for certificates. ``render_notice`` takes the notice's
fields (``agencies.municipality.numbering.NumberNotice.as_dict``) as a mapping.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from issuance.pdf import FONT

__all__ = ["TITLE", "grouped", "render_notice"]

TITLE = "個人番号通知書"
_WHY = {
    "出生": "出生により住民票に住民票コードが記載されたため、番号法第7条第1項により指定しました。",
    "国外からの転入": (
        "国外から転入し住民票に住民票コードが記載されたため、番号法第7条第1項により指定しました。"
    ),
    "個人番号の変更": (
        "従前の個人番号が漏えいして不正に用いられるおそれがあると認められるため、"
        "番号法第7条第2項により新たに指定しました（{by}）。従前の個人番号は使えません。"
    ),
}


def grouped(number: str) -> str:
    """``123456789018`` → ``1234 5678 9018``: the number as it is read out and printed."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


def render_notice(notice: Mapping[str, str], issuer: str) -> bytes:
    """The notice's PDF, sent by ``issuer`` (e.g. 千代田区長)."""
    buf = io.BytesIO()
    width, height = A4
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(TITLE)
    c.setAuthor(issuer)
    c.setFont(FONT, 11)
    c.drawString(60, height - 60, notice["address"])
    c.drawString(60, height - 78, f"{notice['name']}　様")
    c.setFont(FONT, 22)
    c.drawCentredString(width / 2, height - 140, TITLE)
    c.setFont(FONT, 12)
    y = height - 200
    for label, value in (
        ("氏名", notice["name"]),
        ("生年月日", _date(notice["birth_date"])),
        ("個人番号", grouped(notice["number"])),
        ("指定日", _date(notice["designated"])),
    ):
        c.drawString(80, y, f"{label}　{value}")
        y -= 26
    c.setFont(FONT, 10)
    why = _WHY.get(notice["reason"], "").format(by=notice.get("by", ""))
    for line in (why[i : i + 46] for i in range(0, len(why), 46)):
        c.drawString(60, y - 10, line)
        y -= 16
    c.drawString(60, y - 30, f"{issuer}")
    c.setFont(FONT, 9)
    for i, line in enumerate(
        (
            "この通知書は、個人番号を証明する書類や本人確認書類としては使えません。再発行はしません。",
            "個人番号の確認には、個人番号カードまたは個人番号が記載された住民票の写しをご利用ください。",
        )
    ):
        c.drawString(60, 90 - 14 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()
