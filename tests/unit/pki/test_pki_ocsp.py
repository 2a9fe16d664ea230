"""The OCSP responder's core: statuses, nonces, who may ask, and malformed or forged input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st
from pki_helpers import HIERARCHY, Clock, issue_pair, make_ca

from pki import (
    CaName,
    CertKind,
    EventKind,
    Hierarchy,
    ResidentEvent,
    RevocationUnknown,
    VerifierKind,
)
from pki.ca.authority import CertificationAuthority
from pki.ca.verifiers import Verifier
from pki.profiles import Issuer, responder_certificate
from pki.relying.status import check_ocsp_response, ocsp_request

S = ocsp.OCSPResponseStatus
SIG_CA = HIERARCHY.cas[CaName.SIGNATURE].cert
AUTH_CA = HIERARCHY.cas[CaName.AUTHENTICATION].cert


def verifier(ca: CertificationAuthority, *roles: CertKind) -> Verifier:
    v, _ = ca.verifiers.register(
        "Chiyoda City", VerifierKind.PUBLIC, frozenset(roles or tuple(CertKind)), None, ca.now()
    )
    return v


def ask(
    ca: CertificationAuthority,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    v: Verifier | None,
    **kw: object,
) -> ocsp.OCSPResponse:
    der, nonce = ocsp_request(cert, issuer)
    resp = ocsp.load_der_ocsp_response(ca.ocsp(der, verifier=v, **kw))  # type: ignore[arg-type]
    if resp.response_status is S.SUCCESSFUL:
        check_ocsp_response(
            resp.public_bytes(serialization.Encoding.DER), cert, issuer, nonce, ca.now()
        )
    return resp


def test_good_then_revoked_with_time_and_reason() -> None:
    clock = Clock()
    ca = make_ca(clock)
    sig, auth = issue_pair(ca)
    v = verifier(ca)
    resp = ask(ca, sig.certificate, SIG_CA, v)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == sig.serial
    assert (
        resp.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(
            HIERARCHY.responders[CaName.SIGNATURE].cert.public_key()  # type: ignore[arg-type]
        ).digest
    )
    assert resp.certificates == [HIERARCHY.responders[CaName.SIGNATURE].cert]
    assert resp.next_update_utc == resp.this_update_utc + ca.crl_interval
    clock.shift(minutes=10)
    ca.apply_event(
        ResidentEvent(EventKind.CARD_LOST, "card-1", clock.now - dt.timedelta(minutes=5))
    )
    resp = ask(ca, sig.certificate, SIG_CA, v)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise
    # the time the loss took effect, as the CRL's invalidityDate says
    assert resp.revocation_time_utc == (clock.now - dt.timedelta(minutes=5)).replace(microsecond=0)
    resp = ask(ca, auth.certificate, AUTH_CA, v)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_unknown_serial_is_unknown() -> None:
    ca = make_ca()
    stranger = make_ca()  # same hierarchy, another ledger: a serial this CA never issued
    sig, _ = issue_pair(stranger)
    der, nonce = ocsp_request(sig.certificate, SIG_CA)
    resp = ocsp.load_der_ocsp_response(ca.ocsp(der, verifier=verifier(ca)))
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    with pytest.raises(RevocationUnknown, match="does not know"):
        check_ocsp_response(
            resp.public_bytes(serialization.Encoding.DER), sig.certificate, SIG_CA, nonce, ca.now()
        )


def test_nonce_is_echoed_and_sha1_requests_are_answered() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(sig.certificate, SIG_CA, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"\x01" * 32), critical=False)
        .build()
    )
    resp = ocsp.load_der_ocsp_response(
        ca.ocsp(req.public_bytes(serialization.Encoding.DER), verifier=verifier(ca))
    )
    assert resp.response_status is S.SUCCESSFUL
    assert resp.hash_algorithm.name == "sha1"
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"\x01" * 32


def test_only_registered_verifiers_of_the_right_role_get_answers() -> None:
    ca = make_ca()
    sig, auth = issue_pair(ca)
    assert ask(ca, sig.certificate, SIG_CA, None).response_status is S.UNAUTHORIZED
    login_only = verifier(ca, CertKind.AUTHENTICATION)
    assert ask(ca, sig.certificate, SIG_CA, login_only).response_status is S.UNAUTHORIZED
    assert ask(ca, auth.certificate, AUTH_CA, login_only).response_status is S.SUCCESSFUL
    both = verifier(ca)
    # asked at the other CA's URL
    assert (
        ask(ca, sig.certificate, SIG_CA, both, route=CaName.AUTHENTICATION).response_status
        is S.UNAUTHORIZED
    )
    assert (
        ask(ca, sig.certificate, SIG_CA, both, route=CaName.SIGNATURE).response_status
        is S.SUCCESSFUL
    )


def test_requests_about_a_foreign_ca_are_unauthorized() -> None:
    ca = make_ca()
    foreign = make_ca(hierarchy=type(HIERARCHY).generate(ca.now()))
    sig, _ = issue_pair(foreign)
    other_ca = foreign.hierarchy.cas[CaName.SIGNATURE].cert
    assert ask(ca, sig.certificate, other_ca, verifier(ca)).response_status is S.UNAUTHORIZED


def _request_with_nonce(ca: CertificationAuthority, nonce: bytes) -> bytes:
    sig, _ = issue_pair(ca)
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(sig.certificate, SIG_CA, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    return req.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"garbage" * 10, b"\x30\x82\xff\xff" + b"\x00" * 10],
)
def test_malformed_requests_get_malformed_request(data: bytes) -> None:
    ca = make_ca()
    resp = ocsp.load_der_ocsp_response(ca.ocsp(data, verifier=verifier(ca)))
    assert resp.response_status is S.MALFORMED_REQUEST


def test_oversized_nonce_and_truncated_requests_are_malformed() -> None:
    ca = make_ca()
    v = verifier(ca)
    resp = ocsp.load_der_ocsp_response(ca.ocsp(_request_with_nonce(ca, b"n" * 33), verifier=v))
    assert resp.response_status is S.MALFORMED_REQUEST
    good = _request_with_nonce(ca, b"n" * 16)
    for cut in range(0, len(good), 7):
        resp = ocsp.load_der_ocsp_response(ca.ocsp(good[:cut], verifier=v))
        assert resp.response_status is S.MALFORMED_REQUEST


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_get_a_valid_ocsp_response(data: bytes) -> None:
    resp = ocsp.load_der_ocsp_response(_CA.ocsp(data, verifier=_V))
    assert resp.response_status in (S.MALFORMED_REQUEST, S.UNAUTHORIZED, S.SUCCESSFUL)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_bit_flipped_requests_never_crash(pos: int, value: int) -> None:
    data = bytearray(_GOOD)
    data[pos % len(data)] = value
    resp = ocsp.load_der_ocsp_response(_CA.ocsp(bytes(data), verifier=_V))
    assert resp.response_status in (S.MALFORMED_REQUEST, S.UNAUTHORIZED, S.SUCCESSFUL)


_CA = make_ca()
_V = verifier(_CA)
_GOOD = _request_with_nonce(_CA, b"x" * 16)


def test_forged_and_replayed_responses_are_refused() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    v = verifier(ca)
    der, nonce = ocsp_request(sig.certificate, SIG_CA)
    body = ca.ocsp(der, verifier=v)
    with pytest.raises(RevocationUnknown, match="nonce"):
        check_ocsp_response(body, sig.certificate, SIG_CA, b"another nonce", ca.now())
    tampered = bytearray(body)
    tampered[-5] ^= 0xFF  # inside the signature
    with pytest.raises(RevocationUnknown):
        check_ocsp_response(bytes(tampered), sig.certificate, SIG_CA, nonce, ca.now())
    other, _ = issue_pair(ca, holder="card-2")
    with pytest.raises(RevocationUnknown, match="another certificate"):
        check_ocsp_response(body, other.certificate, SIG_CA, nonce, ca.now())
    with pytest.raises(RevocationUnknown, match="not current"):
        check_ocsp_response(body, sig.certificate, SIG_CA, nonce, ca.now() + dt.timedelta(days=1))
    # signed by the other CA's responder: not a responder of this CA
    foreign = ca.ocsp(
        ocsp_request(issue_pair(ca, holder="card-3")[1].certificate, AUTH_CA)[0], verifier=v
    )
    with pytest.raises(RevocationUnknown):
        check_ocsp_response(foreign, sig.certificate, SIG_CA, None, ca.now())
    with pytest.raises(RevocationUnknown, match="UNAUTHORIZED"):
        check_ocsp_response(ca.ocsp(der, verifier=None), sig.certificate, SIG_CA, nonce, ca.now())
    with pytest.raises(RevocationUnknown, match="not an OCSP response"):
        check_ocsp_response(b"<html>", sig.certificate, SIG_CA, nonce, ca.now())


def _with_responder(
    cert_of: Callable[[Issuer, ec.EllipticCurvePrivateKey], x509.Certificate],
) -> Hierarchy:
    """The session's hierarchy with the signature CA's responder replaced."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca = HIERARCHY.cas[CaName.SIGNATURE]
    responders = HIERARCHY.responders | {CaName.SIGNATURE: Issuer(key, cert_of(ca, key))}
    return replace(HIERARCHY, responders=responders)


def test_a_delegated_responder_counts_only_in_its_validity_and_for_ocsp_signing() -> None:
    now = dt.datetime.now(dt.UTC)

    def dated(start: dt.datetime, end: dt.datetime) -> Hierarchy:
        return _with_responder(
            lambda ca, key: responder_certificate(
                ca, key.public_key(), serial=7, not_before=start, not_after=end
            )
        )

    def no_ocsp_signing(ca: Issuer, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
        usage = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
        return (
            x509.CertificateBuilder(
                subject_name=x509.Name.from_rfc4514_string("CN=not a responder"),
                issuer_name=ca.cert.subject,
                public_key=key.public_key(),
                serial_number=8,
                not_valid_before=now - dt.timedelta(days=1),
                not_valid_after=now + dt.timedelta(days=1),
            )
            .add_extension(usage, critical=False)
            .sign(ca.key, hashes.SHA256())
        )

    year, day = dt.timedelta(days=365), dt.timedelta(days=1)
    cases = {
        "expired": (dated(now - 2 * year, now - day), "valid only from"),
        "not yet valid": (dated(now + day, now + year), "valid only from"),
        "no id-kp-OCSPSigning": (_with_responder(no_ocsp_signing), "not signed by a responder"),
    }
    for why, (hierarchy, refusal) in cases.items():
        ca = make_ca(hierarchy=hierarchy)
        sig, _ = issue_pair(ca)
        der, nonce = ocsp_request(sig.certificate, SIG_CA)
        body = ca.ocsp(der, verifier=verifier(ca))
        assert ocsp.load_der_ocsp_response(body).response_status is S.SUCCESSFUL, why
        with pytest.raises(RevocationUnknown, match=refusal):
            check_ocsp_response(body, sig.certificate, SIG_CA, nonce, ca.now())
    # the same responder, within its validity: accepted
    ca = make_ca(hierarchy=dated(now - day, now + year))
    sig, _ = issue_pair(ca)
    der, nonce = ocsp_request(sig.certificate, SIG_CA)
    status = check_ocsp_response(
        ca.ocsp(der, verifier=verifier(ca)), sig.certificate, SIG_CA, nonce, now
    )
    assert status.revoked_at is None
