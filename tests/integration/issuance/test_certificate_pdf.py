"""The municipality's certificate PDFs: signed (PAdES), checked by poppler's ``pdfsig`` — a tool
of its own — and by ``renkei certificates verify``; altered, re-signed, extended or forged
copies refused, each with its reason."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from issuance import IssuanceError
from issuance.exceptions import (
    ISSUANCE_BAD_PDF,
    ISSUANCE_PDF_MODIFIED,
    ISSUANCE_PDF_SIGNATURE,
    ISSUANCE_PDF_UNTRUSTED,
    ISSUANCE_QR_MISMATCH,
)
from issuance.pdf import render, sign
from issuance.seal import SealAuthority
from issuance.verify import verify_pdf

AUTHORITY = SealAuthority.generate()
SEAL = AUTHORITY.issue("東京都千代田区長")
DATA: dict[str, Any] = {
    "kind": "seal_certificate",
    "name": "番号 花子",
    "birth_date": "1980-05-05",
    "address": "東京都千代田区麹町一丁目1番1号",
    "seal_number": "印R0000001",
    "registered": "2010-04-01",
}


async def signed(data: dict[str, Any] = DATA, shown: dict[str, Any] | None = None) -> bytes:
    """``shown`` rendered on the page (and in its QR code), ``data`` certified in the file."""
    return await sign(
        render(shown or data, SEAL.name, "20260610-AB12", "2026年6月10日"), data, SEAL
    )


def pdfsig(pdf: bytes, tmp: Path) -> str:
    path = tmp / "certificate.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdfsig", "-nocert", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    return done.stdout + done.stderr


async def test_pdfsig_and_verify_accept_the_signed_certificate(tmp_path: Path) -> None:
    pdf = await signed()
    out = pdfsig(pdf, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out
    assert "Signer Certificate Common Name: 東京都千代田区長" in out
    verified = await verify_pdf(pdf, [AUTHORITY.cert])
    assert (verified.signer, verified.serial, verified.data) == (
        "東京都千代田区長", "20260610-AB12", DATA,
    )  # fmt: skip


def _altered(pdf: bytes) -> bytes:
    """The certified birth date changed inside the signed bytes (1980 → 1981, the same length:
    the text is UTF-16, each ASCII character written after an escaped NUL)."""
    year = b"\\0001\\0009\\0008\\0000"
    assert year in pdf
    return pdf.replace(year, b"\\0001\\0009\\0008\\0001", 1)


async def test_an_altered_copy_is_refused_by_both(tmp_path: Path) -> None:
    pdf = await signed()
    altered = _altered(pdf)
    assert altered != pdf
    assert "Digest Mismatch" in pdfsig(altered, tmp_path)
    with pytest.raises(IssuanceError) as refused:
        await verify_pdf(altered, [AUTHORITY.cert])
    assert refused.value.code == ISSUANCE_PDF_SIGNATURE


async def test_a_change_appended_after_the_signature_is_refused() -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    pdf = await signed()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = writer.trailer["/Info"].get_object()
    forged = {**DATA, "name": "偽造 太郎"}
    info[generic.NameObject("/RenkeiCertificate")] = generic.TextStringObject(str(forged))
    writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(IssuanceError) as refused:
        await verify_pdf(out.getvalue(), [AUTHORITY.cert])
    assert refused.value.code == ISSUANCE_PDF_MODIFIED


async def test_a_seal_of_another_authority_is_not_trusted() -> None:
    forger = SealAuthority.generate().issue("東京都千代田区長")  # the same name, not certified
    pdf = await sign(render(DATA, forger.name, "X", "2026年6月10日"), DATA, forger)
    with pytest.raises(IssuanceError) as refused:
        await verify_pdf(pdf, [AUTHORITY.cert])
    assert refused.value.code == ISSUANCE_PDF_UNTRUSTED


async def test_a_qr_code_of_other_data_is_refused() -> None:
    shown = {**DATA, "seal_number": "印R9999999"}
    pdf = await signed(DATA, shown)
    with pytest.raises(IssuanceError) as refused:
        await verify_pdf(pdf, [AUTHORITY.cert])
    assert refused.value.code == ISSUANCE_QR_MISMATCH


@pytest.mark.parametrize(
    "pdf",
    [b"", b"%PDF-1.7\n", b"not a pdf at all", b"%PDF-" + b"x" * (1 << 20)],
    ids=["empty", "truncated", "garbage", "oversized"],
)
async def test_no_pdf_is_refused(pdf: bytes) -> None:
    with pytest.raises(IssuanceError) as refused:
        await verify_pdf(pdf, [AUTHORITY.cert])
    assert refused.value.code == ISSUANCE_BAD_PDF


def test_the_command(tmp_path: Path) -> None:
    good, root = tmp_path / "good.pdf", tmp_path / "root.pem"
    good.write_bytes(asyncio.run(signed()))
    root.write_bytes(AUTHORITY.cert.public_bytes(serialization.Encoding.PEM))
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(_altered(good.read_bytes()))
    renkei = [sys.executable, "-m", "renkei", "certificates", "verify", "--ca-file", str(root)]
    ok = subprocess.run([*renkei, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "valid — seal_certificate 20260610-AB12, signed by 東京都千代田区長" in ok.stdout
    refused = subprocess.run([*renkei, str(bad)], capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "NOT VALID — issuance.pdf_signature" in refused.stdout
