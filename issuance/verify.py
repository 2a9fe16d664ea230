"""``renkei certificates verify FILE.pdf``: is this certificate what the municipality signed?

Checks, each with its own code: the file is a PDF with one signature (``issuance.bad_pdf``);
the signature is intact and valid (``issuance.pdf_signature``), covers the whole file — nothing
added after it (``issuance.pdf_modified``) — and chains to the trusted root of the municipal
seals (``issuance.pdf_untrusted``); the QR code printed on the page, read from the page as a
camera would (rendered by poppler's ``pdftoppm``, decoded by OpenCV), names the certified data
the signature covers (``issuance.qr_mismatch``; ``issuance.qr_unreadable`` when no QR code can
be read).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from issuance.exceptions import (
    ISSUANCE_BAD_PDF,
    ISSUANCE_PDF_MODIFIED,
    ISSUANCE_PDF_SIGNATURE,
    ISSUANCE_PDF_UNTRUSTED,
    ISSUANCE_QR_MISMATCH,
    ISSUANCE_QR_UNREADABLE,
    IssuanceError,
)
from issuance.pdf import DATA_KEY, QR_PREFIX, qr_payload

with warnings.catch_warnings():  # pyhanko imports cryptography's deprecated DSA
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

__all__ = ["MAX_PDF", "Verified", "read_qr", "verify_pdf"]

MAX_PDF = 1 << 20
RENDER_DPI = 150


@dataclass(frozen=True, slots=True)
class Verified:
    signer: str  # the municipality's name, from its certificate
    serial: str
    data: dict[str, Any]


def _fail(code: str, message: str) -> IssuanceError:
    return IssuanceError(code, message)


async def _signature(pdf: bytes, roots: list[x509.Certificate]) -> tuple[str, dict[str, Any]]:
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signatures = reader.embedded_signatures
        info = reader.trailer["/Info"].get_object()
        text = str(info.get(DATA_KEY, ""))
    except Exception as exc:  # noqa: BLE001 - pyhanko raises many kinds on a damaged file
        raise _fail(ISSUANCE_BAD_PDF, f"not a readable PDF: {type(exc).__name__}") from None
    if len(signatures) != 1:
        raise _fail(ISSUANCE_BAD_PDF, f"{len(signatures)} signatures (one expected)")
    trust = [asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER)) for r in roots]
    try:
        context = ValidationContext(trust_roots=trust)
        status = await async_validate_pdf_signature(signatures[0], context)
    except Exception as exc:  # noqa: BLE001 - a damaged signature dictionary or CMS
        raise _fail(ISSUANCE_PDF_SIGNATURE, f"the signature cannot be read: {exc}") from None
    if not (status.intact and status.valid):
        raise _fail(ISSUANCE_PDF_SIGNATURE, "the signature does not verify: the file was altered")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise _fail(ISSUANCE_PDF_MODIFIED, "the file was changed after it was signed")
    if not status.trusted:
        raise _fail(ISSUANCE_PDF_UNTRUSTED, "the signer is not a trusted municipal seal")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _fail(ISSUANCE_BAD_PDF, "no certified data in the document") from None
    if not isinstance(data, dict):
        raise _fail(ISSUANCE_BAD_PDF, "no certified data in the document")
    signer = status.signing_cert.subject.native.get("common_name", "")
    return str(signer), data


def read_qr(pdf: bytes) -> str:
    """The text of the QR code on the first page, read from the rendered page."""
    try:
        import cv2  # noqa: PLC0415 - OpenCV, only when a QR code is read
        import numpy as np  # noqa: PLC0415
    except ImportError:
        raise _fail(
            ISSUANCE_QR_UNREADABLE, "reading the QR code needs: pip install 'renkei[verify]'"
        ) from None

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        program = shutil.which("pdftoppm")
        if program is None:
            raise _fail(
                ISSUANCE_QR_UNREADABLE, "pdftoppm is missing: apt-get install poppler-utils"
            )
        page_args = ["-r", str(RENDER_DPI), "-gray", "-png", "-singlefile", "-f", "1"]
        done = subprocess.run(  # noqa: S603 - a fixed program on a file of our own
            [program, *page_args, str(source), str(Path(tmp) / "page")],
            capture_output=True,
            check=False,
            timeout=60,
        )
        page = Path(tmp) / "page.png"
        if done.returncode != 0 or not page.exists():
            raise _fail(ISSUANCE_QR_UNREADABLE, "the page cannot be rendered")
        image = cv2.imdecode(np.frombuffer(page.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise _fail(ISSUANCE_QR_UNREADABLE, "the page cannot be rendered")
    # OpenCV's ArUco-based detector: the classic QRCodeDetector misses some pages (by the code's
    # mask pattern, so by the serial; bench/qr_bench.py), the ArUco one none of those measured
    text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    if not text:
        raise _fail(ISSUANCE_QR_UNREADABLE, "no QR code can be read on the page")
    return str(text)


async def verify_pdf(pdf: bytes, roots: list[x509.Certificate]) -> Verified:
    """The certificate's signer, serial and data, or ``IssuanceError`` saying what is wrong."""
    if len(pdf) > MAX_PDF or not pdf.startswith(b"%PDF-"):
        raise _fail(ISSUANCE_BAD_PDF, "not a PDF certificate (or over 1 MiB)")
    signer, data = await _signature(pdf, roots)
    text = await asyncio.to_thread(read_qr, pdf)
    parts = text.split("|")
    if len(parts) != 3 or parts[0] != QR_PREFIX or text != qr_payload(parts[1], data):
        raise _fail(ISSUANCE_QR_MISMATCH, "the QR code does not name the signed data")
    return Verified(signer, parts[1], data)
