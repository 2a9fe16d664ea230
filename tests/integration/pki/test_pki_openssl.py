"""Standard tools accept what the CA publishes: ``openssl crl``, ``openssl ocsp`` (good and
revoked, verified with -CAfile and with -VAfile), ``openssl verify -crl_check`` and
``-policy … -explicit_policy``, ``openssl cms`` (also trusting only the root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pki_http_env import OPENSSL, Server, private_pem, renkei, run

from pki import POLICY, CertKind, sign_document, sign_document_with


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


async def cms_verify(server: Server, signed: Path, *extra: str) -> tuple[int, str, str]:
    """``openssl cms -verify`` of a DER CMS against the CA chain: (exit code, out, err)."""
    chain = str(server.certs / "chain.pem")
    return await run(
        OPENSSL, "cms", "-verify", "-in", str(signed), "-inform", "DER", "-CAfile", chain,
        "-purpose", "any", "-binary", *extra,
    )  # fmt: skip


async def issue_rsa(
    server: Server, work: Path, holder: str, kind: str = "signature"
) -> tuple[rsa.RSAPrivateKey, Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    out = await server.issue(kind, key, holder)
    cert = work / f"{holder}-{kind}.pem"
    cert.write_text(out["certificate"])
    (work / f"{holder}.key").write_bytes(private_pem(key))
    return key, cert, out["serial"]


async def ocsp(
    server: Server, cert: Path, *extra: str, api_key: str | None = None, path: str = "/ocsp"
) -> tuple[int, str]:
    header = ["-header", f"Authorization=Bearer {api_key}"] if api_key else []
    code, out, err = await run(
        OPENSSL,
        "ocsp",
        "-issuer",
        str(server.certs / "signature.pem"),
        "-cert",
        str(cert),
        "-url",
        server.url + path,
        *header,
        "-resp_text",
        *extra,
    )
    return code, out + err


async def test_openssl_reads_the_crls(server: Server, work: Path) -> None:
    _, _, serial = await issue_rsa(server, work, "card-c1")
    await server.event("card_lost", "card-c1")
    async with server.http.get(f"{server.url}/crl/signature.crl") as r:
        (work / "sig.crl").write_bytes(await r.read())
    code, out, err = await run(
        OPENSSL, "crl", "-in", str(work / "sig.crl"), "-inform", "DER", "-noout", "-text"
    )
    assert code == 0, err
    assert "Issuer: C = JP, O = JPKI, OU = JPKI for digital signature" in out
    assert serial.upper() in out.replace(":", "")
    assert "Key Compromise" in out and "Next Update" in out and "CRL Number" in out
    async with server.http.get(f"{server.url}/crl/authentication.pem") as r:
        (work / "auth.pem").write_bytes(await r.read())
    code, out, err = await run(OPENSSL, "crl", "-in", str(work / "auth.pem"), "-noout", "-text")
    assert code == 0 and "JPKI for user authentication" in out


async def test_openssl_ocsp_good_then_revoked(server: Server, work: Path) -> None:
    _, cert, _ = await issue_rsa(server, work, "card-c2")
    api_key = await server.verifier("signature")
    chain = str(server.certs / "chain.pem")
    code, out = await ocsp(server, cert, "-CAfile", chain, api_key=api_key)
    assert code == 0, out
    assert "Response verify OK" in out and f"{cert}: good" in out
    assert "OCSP Nonce" in out and "Responder Id:" in out
    responder = str(server.certs / "ocsp-signature.pem")
    code, out = await ocsp(
        server, cert, "-VAfile", responder, api_key=api_key, path="/ocsp/signature"
    )
    assert code == 0 and "Response verify OK" in out and ": good" in out
    await server.event("moved", "card-c2")
    code, out = await ocsp(server, cert, "-CAfile", chain, api_key=api_key)
    assert code == 0, out
    assert "Response verify OK" in out and f"{cert}: revoked" in out
    assert "Reason: affiliationChanged" in out and "Revocation Time" in out


async def test_openssl_ocsp_without_a_verifier_key_is_unauthorized(
    server: Server, work: Path
) -> None:
    _, cert, _ = await issue_rsa(server, work, "card-c3")
    _, out = await ocsp(server, cert, "-CAfile", str(server.certs / "chain.pem"))
    assert "Responder Error: unauthorized (6)" in out


async def test_openssl_verify_with_crl_check(server: Server, work: Path) -> None:
    _, cert, _ = await issue_rsa(server, work, "card-c4")
    chain = str(server.certs / "chain.pem")

    async def verify() -> tuple[int, str]:
        async with server.http.get(f"{server.url}/crl/signature.pem") as r:
            (work / "crl.pem").write_bytes(await r.read())
        code, out, err = await run(
            OPENSSL,
            "verify",
            "-crl_check",
            "-CAfile",
            chain,
            "-CRLfile",
            str(work / "crl.pem"),
            str(cert),
        )
        return code, out + err

    code, out = await verify()
    assert code == 0 and f"{cert}: OK" in out
    await server.event("died", "card-c4")
    code, out = await verify()
    assert code != 0 and "certificate revoked" in out


async def test_openssl_verifies_our_cms_signatures(server: Server, work: Path) -> None:
    from cryptography import x509

    key, cert_path, _ = await issue_rsa(server, work, "card-c5")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    doc = "転入届\n".encode()
    (work / "doc.txt").write_bytes(doc)
    (work / "doc.p7s").write_bytes(sign_document(doc, cert, key))
    code, out, err = await cms_verify(server, work / "doc.p7s")
    assert code == 0, err
    assert out.encode() == doc and "Verification successful" in err
    (work / "doc.sig").write_bytes(sign_document(doc, cert, key, detached=True))
    content = ("-content", str(work / "doc.txt"), "-out", "/dev/null")
    code, _, err = await cms_verify(server, work / "doc.sig", *content)
    assert code == 0 and "Verification successful" in err


async def test_openssl_verifies_cms_made_around_an_external_signer(
    server: Server, work: Path
) -> None:
    """What the card bridge makes: the key signs only the signed attributes (as a card does)."""
    key, cert_path, _ = await issue_rsa(server, work, "card-c6")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    doc = "確定申告書\n".encode()
    card = lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # noqa: E731
    (work / "ext.p7s").write_bytes(sign_document_with(doc, cert, card))
    code, out, err = await cms_verify(server, work / "ext.p7s")
    assert code == 0, err
    assert out.encode() == doc and "Verification successful" in err


async def test_openssl_finds_the_jpki_policy_on_the_whole_path(server: Server, work: Path) -> None:
    """A relying party that requires the JPKI policy (RFC 5280 §6.1: explicit policy) accepts
    residents' certificates: each issuing CA carries the policy of what it issues."""
    root = str(server.certs / "root.pem")
    for kind, other in (("signature", "authentication"), ("authentication", "signature")):
        _, cert, _ = await issue_rsa(server, work, "card-c7", kind)
        ca = str(server.certs / f"{kind}.pem")

        async def verify(policy: str, ca: str = ca, cert: Path = cert) -> tuple[int, str]:
            code, out, err = await run(
                OPENSSL, "verify", "-CAfile", root, "-untrusted", ca,
                "-policy", policy, "-explicit_policy", str(cert),
            )  # fmt: skip
            return code, out + err

        code, out = await verify(POLICY[CertKind(kind)].dotted_string)
        assert code == 0 and f"{cert}: OK" in out, out
        code, out = await verify(POLICY[CertKind(other)].dotted_string)  # the check is real
        assert code != 0 and "error 43" in out and "no explicit policy" in out


async def test_renkei_sign_verifies_with_openssl_trusting_only_the_root(
    server: Server, work: Path
) -> None:
    """``renkei sign`` includes the issuing CA, so the root alone is enough to verify."""
    _, cert, _ = await issue_rsa(server, work, "card-c8")
    (work / "doc.txt").write_bytes("転出届\n".encode())
    own = ["--key", str(work / "card-c8.key"), "--cert", str(cert)]
    state = ["--state-dir", str(server.state)]
    code, _, err = await renkei(*state, "sign", *own, str(work / "doc.txt"))
    assert code == 0, err
    root = str(server.certs / "root.pem")
    code, out, err = await run(
        OPENSSL, "cms", "-verify", "-in", str(work / "doc.txt.p7s"), "-inform", "DER",
        "-CAfile", root, "-purpose", "any", "-binary",
    )  # fmt: skip
    assert code == 0 and "Verification successful" in err, err
    assert out == "転出届\n"
    code, _, err = await renkei(*state, "sign", "--detached", *own, str(work / "doc.txt"))
    assert code == 0, err
    code, _, err = await run(
        OPENSSL, "cms", "-verify", "-in", str(work / "doc.txt.p7s"), "-inform", "DER",
        "-CAfile", root, "-purpose", "any", "-binary",
        "-content", str(work / "doc.txt"), "-out", "/dev/null",
    )  # fmt: skip
    assert code == 0 and "Verification successful" in err, err
