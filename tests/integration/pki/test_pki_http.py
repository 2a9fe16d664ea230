"""The CA's HTTP API: public CRLs and CA certificates, operator-only issuance and revocation,
verifier-only OCSP — and a clear error for every malformed, forged or oversized request."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from pki_http_env import FACTS, Server, start

from pki import CaName, EventKind, facts_from_certificate, sign_document
from pki.relying.status import check_ocsp_response, ocsp_request

OCSP = {"Content-Type": "application/ocsp-request"}
S = ocsp.OCSPResponseStatus


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def get(server: Server, path: str, **kw: object) -> tuple[int, str, bytes]:
    async with server.http.get(server.url + path, **kw) as r:  # type: ignore[arg-type]
        return r.status, r.content_type, await r.read()


async def post(server: Server, path: str, **kw: object) -> tuple[int, bytes]:
    async with server.http.post(server.url + path, **kw) as r:  # type: ignore[arg-type]
        return r.status, await r.read()


@pytest.mark.parametrize("name", ["root", "signature", "authentication"])
async def test_crls_are_public_in_der_and_pem(server: Server, name: str) -> None:
    status, ctype, der = await get(server, f"/crl/{name}.crl")
    assert (status, ctype) == (200, "application/pkix-crl")
    crl = x509.load_der_x509_crl(der)
    status, _, pem = await get(server, f"/crl/{name}.pem")
    assert status == 200 and x509.load_pem_x509_crl(pem) == crl
    assert crl.issuer == server.ca.hierarchy.issuer(CaName(name)).cert.subject


@pytest.mark.parametrize(
    "path", ["/crl/nope.crl", "/crl/..%2Fpassword.pem", "/crl/signature.der", "/ca/nope.pem"]
)
async def test_unknown_crls_and_cas_are_404_with_a_clear_message(server: Server, path: str) -> None:
    status, ctype, body = await get(server, path)
    assert status == 404 and ctype == "application/json"
    err = json.loads(body)
    assert err["code"] in ("pki.unknown_ca", "pki.not_found")
    if err["code"] == "pki.unknown_ca":
        assert "known: root, signature, authentication" in err["message"]


async def test_ca_certificates_are_public(server: Server) -> None:
    _, _, chain = await get(server, "/ca/chain.pem")
    assert len(x509.load_pem_x509_certificates(chain)) == 3
    _, ctype, der = await get(server, "/ca/signature.der")
    assert ctype == "application/pkix-cert"
    assert (
        x509.load_der_x509_certificate(der).subject.rfc4514_string().startswith("OU=Japan Agency")
    )


async def test_issuance_over_http(server: Server) -> None:
    out = await server.issue("signature", key(), "card-h1")
    cert = x509.load_pem_x509_certificate(out["certificate"].encode())
    assert f"{cert.serial_number:x}" == out["serial"]
    facts = facts_from_certificate(cert)
    assert facts is not None and facts.name == FACTS["name"]
    assert out["subject_id"] in cert.subject.rfc4514_string()
    auth = await server.issue("authentication", key(), "card-h1")
    assert (
        facts_from_certificate(x509.load_pem_x509_certificate(auth["certificate"].encode())) is None
    )


def issue_body(**over: object) -> dict[str, object]:
    pem = (
        key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return {
        "kind": "signature",
        "public_key": pem,
        "holder": "card-x",
        "prefecture": "Tokyo-to",
        "municipality": "Chiyoda-ku",
        "facts": FACTS,
    } | over


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "pki.malformed"),
        (b"[]", 400, "pki.malformed"),
        (json.dumps(issue_body(extra=1)).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(kind="root")).encode(), 400, "pki.malformed"),
        (
            json.dumps(
                issue_body(
                    public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
                )
            ).encode(),
            400,
            "pki.malformed",
        ),
        (json.dumps(issue_body(holder="123456789018")).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(kind="authentication")).encode(), 422, "pki.refused"),
        (json.dumps(issue_body(facts=None)).encode(), 422, "pki.refused"),
        (
            json.dumps(issue_body(facts=FACTS | {"birth_date": "2020-01-01"})).encode(),
            422,
            "pki.refused",
        ),
        (json.dumps(issue_body(facts=FACTS | {"sex": 1})).encode(), 400, "pki.malformed"),
        (
            json.dumps(issue_body(facts=FACTS | {"birth_date": "1985-02-30"})).encode(),
            400,
            "pki.malformed",
        ),
        (json.dumps(issue_body(facts=FACTS | {"name": "a\u0000b"})).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(prefecture="x" * 300)).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(code="1234567890")).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(code=12345678903)).encode(), 400, "pki.malformed"),
        (json.dumps(issue_body(code="1234567890１")).encode(), 400, "pki.malformed"),
    ],
)
async def test_bad_issuance_requests_get_clear_errors(
    server: Server, body: bytes, status: int, code: str
) -> None:
    got, raw = await post(server, "/certificates", data=body, headers=server.operator)
    err = json.loads(raw)
    assert (got, err["code"]) == (status, code), err
    assert FACTS["name"] not in err["message"]  # errors never echo personal data


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/certificates"),
        ("POST", "/events"),
        ("POST", "/revocations"),
        ("GET", "/verifiers"),
        ("POST", "/verifiers"),
        ("DELETE", "/verifiers/v-000000000000"),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer nope", "Basic Zm9vOmJhcg=="])
async def test_operator_endpoints_need_the_operator_token(
    server: Server, method: str, path: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    async with server.http.request(method, server.url + path, json={}, headers=headers) as r:
        assert r.status == 401
        assert (await r.json())["code"] == "pki.unauthorized"


async def test_oversized_bodies_are_413_and_wrong_methods_405(server: Server) -> None:
    big = b"{" + b" " * (70 * 1024) + b"}"
    status, raw = await post(server, "/certificates", data=big, headers=server.operator)
    assert status == 413 and json.loads(raw)["code"] == "pki.too_large"
    status, raw = await post(server, "/ocsp", data=b"\x30" * (70 * 1024), headers=OCSP)
    assert status == 413
    status, _, raw = await get(server, "/certificates")
    assert status == 405 and json.loads(raw)["code"] == "pki.method"


async def test_events_revoke_and_republish_the_crl_at_once(server: Server) -> None:
    sig = await server.issue("signature", key(), "card-e1")
    auth = await server.issue("authentication", key(), "card-e1")
    revoked = await server.event("moved", "card-e1")
    assert revoked == [{"ca": "signature", "serial": sig["serial"], "reason": "affiliationChanged"}]
    _, _, der = await get(server, "/crl/signature.crl")
    entry = x509.load_der_x509_crl(der).get_revoked_certificate_by_serial_number(
        int(sig["serial"], 16)
    )
    assert entry is not None
    assert await server.event("moved", "card-e1") == []  # again: nothing more
    revoked = await server.event("died", "card-e1")
    assert revoked == [
        {"ca": "authentication", "serial": auth["serial"], "reason": "cessationOfOperation"}
    ]
    for bad in (
        {"kind": "emigrated", "holder": "card-e1", "at": "2026-01-01T00:00:00+09:00"},
        {"kind": "died", "holder": "card-e1", "at": "2026-01-01T00:00:00"},
        {"kind": "died", "holder": "card-e1"},
        {"kind": "died", "holder": "12345678901", "at": "2026-01-01T00:00:00+09:00"},
    ):
        status, raw = await post(server, "/events", json=bad, headers=server.operator)
        assert status == 400 and json.loads(raw)["code"] == "pki.malformed", bad


async def test_resident_requested_revocation_through_the_desk(server: Server) -> None:
    auth = await server.issue("authentication", key(), "card-r1")
    body = {"ca": "authentication", "serial": auth["serial"], "reason": "key_compromise"}
    status, raw = await post(server, "/revocations", json=body, headers=server.operator)
    assert status == 200 and json.loads(raw)["revoked"][0]["reason"] == "keyCompromise"
    for bad, code in (
        ({"ca": "signature", "serial": auth["serial"], "reason": "key_compromise"}, 404),
        ({"ca": "authentication", "serial": "xyz", "reason": "key_compromise"}, 400),
        ({"ca": "authentication", "serial": auth["serial"], "reason": "because"}, 400),
        ({"ca": "authentication", "serial": "ff" * 30, "reason": "superseded"}, 400),
    ):
        status, raw = await post(server, "/revocations", json=bad, headers=server.operator)
        assert status == code, (bad, raw)


async def test_a_resident_revokes_their_own_certificate_by_signing_the_request(
    server: Server,
) -> None:
    k = key()
    auth = await server.issue("authentication", k, "card-s1")
    cert = x509.load_pem_x509_certificate(auth["certificate"].encode())

    def request(serial: str, at: dt.datetime) -> bytes:
        body = {
            "ca": "authentication",
            "serial": serial,
            "reason": "cessation_of_operation",
            "at": at.isoformat(),
        }
        return sign_document(json.dumps(body).encode(), cert, k)

    now = dt.datetime.now(dt.UTC)
    status, raw = await post(server, "/revocations/self", data=request("ab" * 10, now))
    assert status == 422 and "only the certificate" in json.loads(raw)["message"]
    status, raw = await post(
        server, "/revocations/self", data=request(auth["serial"], now - dt.timedelta(hours=1))
    )
    assert status == 422 and "not fresh" in json.loads(raw)["message"]
    status, raw = await post(server, "/revocations/self", data=b"\x30\x80garbage")
    assert status == 400 and json.loads(raw)["code"] == "pki.malformed"
    stranger = key()
    other = sign_document(b"{}", cert, stranger)  # someone else's key with this certificate
    status, raw = await post(server, "/revocations/self", data=other)
    assert status == 422 and json.loads(raw)["code"] == "pki.bad_signature"
    status, raw = await post(server, "/revocations/self", data=request(auth["serial"], now))
    assert status == 200, raw
    assert json.loads(raw)["revoked"][0]["reason"] == "cessationOfOperation"


async def test_verifier_registry_over_http(server: Server) -> None:
    body = {
        "name": "Example Bank",
        "kind": "private",
        "roles": ["signature"],
        "licence": "MIC-0042",
    }
    status, raw = await post(server, "/verifiers", json=body, headers=server.operator)
    created = json.loads(raw)
    assert status == 201 and created["api_key"].startswith(created["id"] + ".")
    status, raw = await post(
        server, "/verifiers", json=body | {"licence": None}, headers=server.operator
    )
    assert status == 400 and "licence" in json.loads(raw)["message"]
    status, raw = await post(
        server, "/verifiers", json=body | {"roles": []}, headers=server.operator
    )
    assert status == 400
    async with server.http.get(server.url + "/verifiers", headers=server.operator) as r:
        listed = await r.json()
    assert created["id"] in {v["id"] for v in listed}
    assert all("api_key" not in v and "key_hash" not in v for v in listed)
    async with server.http.delete(
        f"{server.url}/verifiers/{created['id']}", headers=server.operator
    ) as r:
        assert r.status == 200
    async with server.http.delete(
        f"{server.url}/verifiers/{created['id']}", headers=server.operator
    ) as r:
        assert r.status == 404


async def ask(
    server: Server,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    path: str = "/ocsp",
    api_key: str | None = None,
    get_: bool = False,
) -> ocsp.OCSPResponse:
    der, nonce = ocsp_request(cert, issuer)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if get_:
        encoded = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
        async with server.http.get(f"{server.url}{path}/{encoded}", headers=headers) as r:
            body = await r.read()
    else:
        async with server.http.post(server.url + path, data=der, headers=headers | OCSP) as r:
            assert r.content_type == "application/ocsp-response"
            body = await r.read()
    resp = ocsp.load_der_ocsp_response(body)
    if resp.response_status is S.SUCCESSFUL:
        check_ocsp_response(body, cert, issuer, nonce, dt.datetime.now(dt.UTC))
    return resp


async def test_ocsp_post_and_get_for_registered_verifiers_only(server: Server) -> None:
    sig = x509.load_pem_x509_certificate(
        (await server.issue("signature", key(), "card-o1"))["certificate"].encode()
    )
    issuer = server.ca.hierarchy.cas[CaName.SIGNATURE].cert
    api_key = await server.verifier("signature")
    for path in ("/ocsp", "/ocsp/signature"):
        for get_ in (False, True):
            resp = await ask(server, sig, issuer, path, api_key, get_)
            assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD, (path, get_)
    assert (await ask(server, sig, issuer)).response_status is S.UNAUTHORIZED
    assert (
        await ask(server, sig, issuer, api_key="v-000000000000." + "A" * 43)
    ).response_status is S.UNAUTHORIZED
    assert (
        await ask(server, sig, issuer, "/ocsp/authentication", api_key)
    ).response_status is S.UNAUTHORIZED
    assert (await ask(server, sig, issuer, "/ocsp/nope", api_key)).response_status is S.UNAUTHORIZED
    await server.event("card_lost", "card-o1")
    resp = await ask(server, sig, issuer, api_key=api_key, get_=True)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise


@pytest.mark.parametrize(
    "path", ["/ocsp/!!!notbase64", "/ocsp/AAAA", "/ocsp/signature/%ZZ", "/ocsp/" + "A" * 4000]
)
async def test_malformed_ocsp_get_requests(server: Server, path: str) -> None:
    status, ctype, body = await get(server, path)
    assert (status, ctype) == (200, "application/ocsp-response")
    assert ocsp.load_der_ocsp_response(body).response_status is S.MALFORMED_REQUEST


async def test_malformed_ocsp_post_and_unknown_serials(server: Server) -> None:
    api_key = await server.verifier()
    status, raw = await post(
        server, "/ocsp", data=b"garbage", headers=OCSP | {"Authorization": f"Bearer {api_key}"}
    )
    assert status == 200 and ocsp.load_der_ocsp_response(raw).response_status is S.MALFORMED_REQUEST
    status, raw = await post(server, "/ocsp", data=b"", headers=OCSP)
    assert ocsp.load_der_ocsp_response(raw).response_status is S.MALFORMED_REQUEST
    # a certificate with a serial this CA never issued, under its name and key
    issuer = server.ca.hierarchy.cas[CaName.AUTHENTICATION]
    real = x509.load_pem_x509_certificate(
        (await server.issue("authentication", key(), "card-u1"))["certificate"].encode()
    )
    from cryptography.hazmat.primitives import hashes

    ghost = (
        x509.CertificateBuilder(extensions=list(real.extensions))
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(real.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .sign(issuer.key, hashes.SHA256())
    )
    der, _ = ocsp_request(ghost, issuer.cert)
    status, raw = await post(
        server, "/ocsp", data=der, headers=OCSP | {"Authorization": f"Bearer {api_key}"}
    )
    assert ocsp.load_der_ocsp_response(raw).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


async def test_crls_are_reissued_on_schedule(tmp_path_factory: pytest.TempPathFactory) -> None:
    import asyncio

    url, ca, runner = await start(tmp_path_factory.mktemp("sched"), dt.timedelta(seconds=0.2))
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/crl/signature.crl") as r:
                first = x509.load_der_x509_crl(await r.read())
            await asyncio.sleep(1.3)
            async with http.get(f"{url}/crl/signature.crl") as r:
                later = x509.load_der_x509_crl(await r.read())
        n = x509.CRLNumber
        assert (
            later.extensions.get_extension_for_class(n).value.crl_number
            > first.extensions.get_extension_for_class(n).value.crl_number
        )
        assert later.last_update_utc > first.last_update_utc
        assert later.next_update_utc is not None and later.next_update_utc > later.last_update_utc
    finally:
        await runner.cleanup()
        ca.close()


async def test_the_code_given_at_issuance_is_what_jlis_notice_revokes_by(server: Server) -> None:
    """The desk's issuance application gives the 住民票コード (the certificate does not bear it)."""
    body = json.dumps(issue_body(holder="card-c1", code="24680135792")).encode()
    status, raw = await post(server, "/certificates", data=body, headers=server.operator)
    assert status == 201 and b"24680135792" not in raw
    done = server.ca.apply_notice(EventKind.NAME_CHANGED, "24680135792", str(uuid.uuid4()))
    assert done is not None and [r.ca for r in done] == [CaName.SIGNATURE]
