#!/usr/bin/env python3
"""How often each OpenCV QR detector misses the QR code of a certificate PDF (issuance/verify.py).

    .venv/bin/python bench/qr_bench.py            # 60 certificates, about a minute
    .venv/bin/python bench/qr_bench.py --count 20

Each certificate has a fresh serial (so its QR code another mask pattern), is rendered by
``issuance.pdf.render`` and turned into a page image with pdftoppm at 150, 200 and 300 dpi, as
``issuance.verify.read_qr`` does at 150; both detectors read every image. Needs poppler-utils
and the ``verify`` extra (OpenCV).
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from issuance.pdf import render

DATA = {
    "kind": "resident_certificate",
    "address": "東京都千代田区千代田1-1",
    "household": "1",
    "members": [
        {"name": "番号 花子", "sex": "2", "birth_date": "1980-05-05", "relationship": "世帯主"},
        {"name": "番号 太郎", "sex": "1", "birth_date": "1979-01-01", "relationship": "夫"},
    ],
}
DPIS = (150, 200, 300)


def page(pdf: bytes, dpi: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "in.pdf").write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", "-png", "-singlefile", "-f", "1",
             f"{tmp}/in.pdf", f"{tmp}/page"],
            check=True,
        )  # fmt: skip
        return cv2.imread(f"{tmp}/page.png", cv2.IMREAD_GRAYSCALE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=60, help="certificates (default 60)")
    args = ap.parse_args()
    detectors = {"classic": cv2.QRCodeDetector(), "aruco": cv2.QRCodeDetectorAruco()}
    missed = {(dpi, name): 0 for dpi in DPIS for name in detectors}
    for _ in range(args.count):
        pdf = render(
            DATA, "千代田区長", f"20261206-{secrets.token_hex(6).upper()}", "2026年12月6日"
        )
        for dpi in DPIS:
            image = page(pdf, dpi)
            for name, detector in detectors.items():
                text, _, _ = detector.detectAndDecode(image)
                missed[dpi, name] += not text
    print(f"QR codes missed of {args.count} certificates (OpenCV {cv2.__version__})")
    for dpi in DPIS:
        row = "  ".join(f"{name} {missed[dpi, name]:>3}" for name in detectors)
        print(f"  {dpi} dpi: {row}")


if __name__ == "__main__":
    main()
