"""The commands: ``renkei pki issue|event|verifier``, ``renkei sign``, ``renkei verify`` against a
running CA, and every refusal with its code on stderr."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from pki_http_env import FACTS, Server, private_pem, public_pem, renkei


async def setup_signer(server: Server, work: Path, holder: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    (work / "key.pem").write_bytes(private_pem(key))
    (work / "pub.pem").write_text(public_pem(key))
    (work / "facts.json").write_text(json.dumps(FACTS, ensure_ascii=False))
    code, out, err = await renkei(
        "--state-dir",
        str(server.state),
        "pki",
        "issue",
        "--url",
        server.url,
        "--kind",
        "signature",
        "--public-key",
        str(work / "pub.pem"),
        "--holder",
        holder,
        "--prefecture",
        "Tokyo-to",
        "--municipality",
        "Chiyoda-ku",
        "--facts",
        str(work / "facts.json"),
        "--out",
        str(work / "cert.pem"),
    )
    assert code == 0, err
    assert "signature certificate" in out
    return work / "key.pem", work / "cert.pem"


async def test_sign_and_verify_by_crl_and_by_ocsp(server: Server, tmp_path: Path) -> None:
    key, cert = await setup_signer(server, tmp_path, "card-cli1")
    doc = tmp_path / "application.txt"
    doc.write_text("児童手当 認定請求書\n")
    state = ["--state-dir", str(server.state)]
    code, out, err = await renkei(*state, "sign", "--key", str(key), "--cert", str(cert), str(doc))
    assert code == 0, err
    p7s = tmp_path / "application.txt.p7s"
    code, out, err = await renkei(
        *state, "verify", str(p7s)
    )  # CRL fetched from the certificate's URL
    assert code == 0, err
    assert "signature OK" in out and FACTS["name"] in out and FACTS["address"] in out
    assert "birth date: 1985-06-15" in out and "female" in out
    code, out, err = await renkei(
        *state,
        "pki",
        "verifier",
        "add",
        "--url",
        server.url,
        "--name",
        "Example Bank",
        "--kind",
        "private",
        "--licence",
        "MIC-7",
        "--role",
        "signature",
    )
    assert code == 0, err
    api_key = out.split("API key (shown once): ")[1].strip()
    (tmp_path / "api.key").write_text(api_key)
    code, out, err = await renkei(
        *state,
        "verify",
        str(p7s),
        "--ocsp",
        f"{server.url}/ocsp",
        "--api-key-file",
        str(tmp_path / "api.key"),
    )
    assert code == 0 and "signature OK" in out, err
    code, out, err = await renkei(*state, "verify", str(p7s), "--ocsp", f"{server.url}/ocsp")
    assert code == 2 and "pki.revocation_unknown" in err and "UNAUTHORIZED" in err


async def test_detached_signature_and_a_different_document(server: Server, tmp_path: Path) -> None:
    key, cert = await setup_signer(server, tmp_path, "card-cli2")
    doc = tmp_path / "a.txt"
    doc.write_text("original\n")
    state = ["--state-dir", str(server.state)]
    code, _, err = await renkei(
        *state,
        "sign",
        "--detached",
        "--key",
        str(key),
        "--cert",
        str(cert),
        "-o",
        str(tmp_path / "a.sig"),
        str(doc),
    )
    assert code == 0, err
    code, out, err = await renkei(*state, "verify", str(tmp_path / "a.sig"), "--document", str(doc))
    assert code == 0 and "signature OK" in out, err
    (tmp_path / "b.txt").write_text("altered\n")
    code, _, err = await renkei(
        *state, "verify", str(tmp_path / "a.sig"), "--document", str(tmp_path / "b.txt")
    )
    assert code == 2 and "pki.document_mismatch" in err
    code, _, err = await renkei(*state, "verify", str(tmp_path / "a.sig"))
    assert code == 2 and "pki.malformed" in err and "detached" in err
    (tmp_path / "trunc.sig").write_bytes((tmp_path / "a.sig").read_bytes()[:200])
    code, _, err = await renkei(
        *state, "verify", str(tmp_path / "trunc.sig"), "--document", str(doc)
    )
    assert code == 2 and "pki.malformed" in err and "Traceback" not in err


async def test_a_move_revokes_and_verify_says_so(server: Server, tmp_path: Path) -> None:
    key, cert = await setup_signer(server, tmp_path, "card-cli3")
    state = ["--state-dir", str(server.state)]
    moved = dt.datetime.now(
        dt.UTC
    ).isoformat()  # after the issue: the certificate predates the move
    code, out, err = await renkei(
        *state,
        "pki",
        "event",
        "--url",
        server.url,
        "--kind",
        "moved",
        "--holder",
        "card-cli3",
        "--at",
        moved,
    )
    assert code == 0 and "1 certificate(s) revoked" in out, err
    doc = tmp_path / "late.txt"
    doc.write_text("signed after the move\n")
    code, _, err = await renkei(*state, "sign", "--key", str(key), "--cert", str(cert), str(doc))
    assert code == 0
    code, _, err = await renkei(*state, "verify", str(tmp_path / "late.txt.p7s"))
    assert code == 2 and "pki.revoked" in err and "affiliationChanged" in err


async def test_signing_with_the_wrong_key_or_an_authentication_certificate(
    server: Server, tmp_path: Path
) -> None:
    _, cert = await setup_signer(server, tmp_path, "card-cli4")
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "other.pem").write_bytes(private_pem(other))
    (tmp_path / "d.txt").write_text("x")
    state = ["--state-dir", str(server.state)]
    code, _, err = await renkei(
        *state,
        "sign",
        "--key",
        str(tmp_path / "other.pem"),
        "--cert",
        str(cert),
        str(tmp_path / "d.txt"),
    )
    assert code == 2 and "does not match" in err
    own = ["--key", str(tmp_path / "key.pem"), "--cert", str(cert), str(tmp_path / "d.txt")]
    code, _, err = await renkei("sign", "--ca-file", str(tmp_path / "none.pem"), *own)
    assert code == 2 and "renkei.no_ca" in err and "--ca-file" in err
    code, _, err = await renkei("sign", "--ca-file", str(server.certs / "root.pem"), *own)
    assert code == 2 and "pki.wrong_ca" in err  # the issuing CA must be found to be included
    auth = await server.issue("authentication", other, "card-cli4")
    (tmp_path / "auth.pem").write_text(auth["certificate"])
    code, _, err = await renkei(
        *state,
        "sign",
        "--key",
        str(tmp_path / "other.pem"),
        "--cert",
        str(tmp_path / "auth.pem"),
        str(tmp_path / "d.txt"),
    )
    assert code == 0, err
    code, _, err = await renkei(*state, "verify", str(tmp_path / "d.txt.p7s"))
    assert code == 2 and "pki.wrong_key_usage" in err
