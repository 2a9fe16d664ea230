"""Write the seed corpora under ``bench/fuzz/seeds/<target>/`` (small, kept in the repo):
one or a few valid inputs per parser, so each run starts inside the grammar.

    .venv/bin/python bench/fuzz/make_seeds.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests/unit/wire", ROOT / "tests/unit/pki"):
    sys.path.insert(0, str(path))

import orjson  # noqa: E402
import pki_helpers  # noqa: E402
import wire_strategies as ws  # noqa: E402
from hypothesis import find  # noqa: E402

from hub.wire import decode_as, encode  # noqa: E402
from hub.wire.messages import ProviderReply, Query  # noqa: E402
from pki.cms import sign_document  # noqa: E402
from pki.relying.status import ocsp_request  # noqa: E402

SEEDS = Path(__file__).parent / "seeds"


def write(target: str, *items: bytes) -> None:
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        (folder / hashlib.sha256(item).hexdigest()[:16]).write_bytes(item)


def main() -> None:
    query = encode(decode_as(Query, orjson.dumps(ws.query_data())))
    reply = encode(decode_as(ProviderReply, orjson.dumps(ws.provider_reply_data())))
    outcome = find(ws.replies, lambda r: r.outcome.status == "ok")
    write("wire", query, reply, encode(outcome))
    select = bytes.fromhex("00A4040C0AD3921000310001010408")
    read = bytes.fromhex("00B0000000")
    verify = bytes.fromhex("0020008004") + b"1234"
    write("apdu", select, read, verify, bytes.fromhex("00B000000000FFFF"))
    write("tlv", bytes.fromhex("5F2002414270023132"), bytes.fromhex("3081820401FF"))
    ef = bytes.fromhex("00A4020C020018")
    write(
        "card",
        bytes([len(select)]) + select + bytes([len(ef)]) + ef + bytes([len(verify)]) + verify,
    )
    ca = pki_helpers.make_ca()
    sig, auth = pki_helpers.issue_pair(ca)
    issuer = pki_helpers.HIERARCHY.issuer(sig.ca).cert
    doc = sign_document(b"an application", sig.certificate, pki_helpers.ec_key(0), chain=[issuer])
    write("cms", doc)
    write(
        "cert",
        sig.certificate.public_bytes(Encoding.DER),
        auth.certificate.public_bytes(Encoding.DER),
        pki_helpers.chain_pem(),
    )
    write("ocsp", ocsp_request(sig.certificate, issuer)[0])
    write(
        "forms",
        b"\x00to_address=%E6%9D%B1%E4%BA%AC&to_municipality=131041&moving_date=2026-07-01",
        b"\x02fiscal_year=2024&income=3000000&deductions=480000",
        b"\x01http://127.0.0.1:8470/applications/signed",
    )
    print(f"seeds written under {SEEDS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
