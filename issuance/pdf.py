"""The certificate as a PDF the municipality signs (PAdES), with a QR code and a visible
anti-forgery mark.

``render`` lays out one A4 page with reportlab: the title, what the municipality certifies,
the issuer, the serial, a ground pattern of けん制文字 (「複写」「コンビニ交付」, light grey, over
the whole page: the model of the printed 地紋, REGISTER-FACTS 5.4) and a QR code holding
``renkei-kofu/1|<serial>|<SHA-256 of the certified data>``. The certified data itself goes into
the document's information dictionary (``/RenkeiCertificate``, canonical JSON), which the
signature covers. ``sign`` adds a PAdES B-B signature (pyhanko) with the municipality's
``Seal``; any PDF reader's signature panel shows it, and ``verify.py`` checks it.

The Japanese text uses the standard Adobe-Japan1 font HeiseiKakuGo-W5 (reportlab's CID font,
which PDF readers substitute with a Japanese Gothic font — poppler with fonts-ipafont-gothic):
it is not embedded, so a certificate stays a few kilobytes, within one message of the network
(the municipality sends the PDF in its answer, 64 KiB at most).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from issuance.seal import Seal

with warnings.catch_warnings():  # pyhanko imports cryptography's deprecated DSA
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = [
    "DATA_KEY",
    "QR_PREFIX",
    "certificate_printer",
    "digest",
    "qr_payload",
    "render",
    "sign",
]

FONT = "HeiseiKakuGo-W5"
DATA_KEY = "/RenkeiCertificate"
QR_PREFIX = "renkei-kofu/1"
TITLES = {
    "resident_certificate": "住民票の写し",
    "seal_certificate": "印鑑登録証明書",
    "tax_certificate": "課税（所得）証明書",
}
SEX = {"1": "男", "2": "女", "9": "—"}
FIELD = "公印"
JST = dt.timezone(dt.timedelta(hours=9), "JST")

pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def canonical(data: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS)


def digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()


def qr_payload(serial: str, data: Mapping[str, Any]) -> str:
    return f"{QR_PREFIX}|{serial}|{digest(data)}"


def _lines(data: Mapping[str, Any]) -> list[str]:
    kind = data.get("kind")
    if kind == "resident_certificate":
        lines = [f"住所　{data['address']}"]
        if data.get("resident_since"):
            lines.append(f"住民となった日　{data['resident_since']}")
        lines.append("世帯全員" if data.get("household") else "世帯の一部（本人）")
        for m in data["members"]:
            sex = SEX.get(str(m.get("sex", "")), "")
            born, rel = m["birth_date"], m["relationship"]
            lines.append(f"　氏名 {m['name']}　生年月日 {born}　性別 {sex}　続柄 {rel}")
            if m.get("number"):  # only in a copy the resident asked with the number
                lines.append(f"　　個人番号 {m['number']}")
        lines.append("この写しは、住民票の原本と相違ないことを証明する。")
        return lines
    if kind == "seal_certificate":
        return [
            f"氏名　{data['name']}",
            f"生年月日　{data['birth_date']}",
            f"住所　{data['address']}",
            f"登録番号　{data['seal_number']}　登録日　{data['registered']}",
            "この写しは、登録されている印影と相違ないことを証明する。",
        ]
    return [
        f"氏名　{data['name']}",
        f"年度　{data['fiscal_year']} 年度（{int(data['fiscal_year']) - 1} 年中の所得）",
        f"総所得金額　{int(data['total_income']):,} 円",
        f"市町村民税所得割額　{int(data['municipal_income_levy']):,} 円",
        "上記のとおり証明する。",
    ]


def _ground(c: canvas.Canvas, width: float, height: float) -> None:
    """けん制文字: a grey diagonal pattern over the page, behind everything."""
    c.saveState()
    c.setFillGray(0.9)
    c.setFont(FONT, 14)
    c.translate(width / 2, height / 2)
    c.rotate(30)
    for y in range(-900, 900, 48):
        c.drawString(-900, y, "複写　コンビニ交付　" * 12)
    c.restoreState()


def render(data: Mapping[str, Any], issuer: str, serial: str, issued_at: str) -> bytes:
    """The unsigned PDF of ``data`` (a municipality's answer), issued by ``issuer``."""
    buf = io.BytesIO()
    width, height = A4
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(TITLES.get(str(data.get("kind")), "証明書"))
    c.setAuthor(issuer)
    c.setSubject(f"renkei コンビニ交付 {serial}")
    _ground(c, width, height)
    c.setFont(FONT, 22)
    c.drawCentredString(width / 2, height - 80, TITLES.get(str(data.get("kind")), "証明書"))
    c.setFont(FONT, 11)
    y = height - 130
    for line in _lines(data):
        c.drawString(60, y, line)
        y -= 20
    c.drawString(60, y - 20, f"{issued_at}　{issuer}　（電子署名）")
    c.setFont(FONT, 9)
    c.drawString(
        60, 90, f"発行番号 {serial}　偽造防止: この証明書は電子署名と QR コードで検証できます"
    )
    c.drawString(60, 76, "（renkei certificates verify、または PDF リーダーの署名パネル）")
    # the visible anti-forgery mark: a framed 「証」, and the QR code
    c.setLineWidth(2)
    c.circle(width - 190, 110, 24)
    c.setFont(FONT, 26)
    c.drawCentredString(width - 190, 101, "証")
    qr = QrCodeWidget(qr_payload(serial, data), barLevel="M")
    x0, y0, x1, y1 = qr.getBounds()
    size = 110.0
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, c, width - 150, 50)
    c.showPage()
    c.save()
    return buf.getvalue()


def _asn1_cert(cert: Any) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


async def sign(pdf: bytes, data: Mapping[str, Any], seal: Seal) -> bytes:
    """``pdf`` with ``data`` in its information dictionary, signed with ``seal`` (PAdES B-B)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.document_meta  # noqa: B018 - pyhanko keeps /Info through its own metadata view
    info = writer.trailer["/Info"].get_object() if "/Info" in writer.trailer else None
    if info is None:
        info = generic.DictionaryObject()
        writer.trailer["/Info"] = writer.add_object(info)
    info[generic.NameObject(DATA_KEY)] = generic.TextStringObject(canonical(data).decode())
    writer.update_container(info)
    key_der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(seal.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in seal.chain]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="この証明書の発行者（市区町村長）による電子署名",
        name=seal.name,
    )
    out = io.BytesIO()
    await signers.PdfSigner(meta, signer).async_sign_pdf(writer, output=out)
    return out.getvalue()


def certificate_printer(seal: Seal) -> Callable[[Mapping[str, Any]], Awaitable[bytes]]:
    """The municipality's printer: each certificate rendered, numbered and signed with ``seal``."""

    async def print_certificate(data: Mapping[str, Any]) -> bytes:
        now = dt.datetime.now(JST)
        serial = f"{now:%Y%m%d}-{secrets.token_hex(6).upper()}"
        issued = f"{now.year}年{now.month}月{now.day}日"
        return await sign(render(data, seal.name, serial, issued), data, seal)

    return print_certificate
