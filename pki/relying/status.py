"""The relying party's side of OCSP: build a request, check a response. Pure.

A response counts only if it is ``successful``, signed by a delegated responder that the
certificate's own CA issued for OCSP signing (id-kp-OCSPSigning) and that is within its own
validity period (or by the CA itself), about this very serial and issuer, echoes our nonce,
and is current.
"""

from __future__ import annotations

import datetime as dt
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from pki.ca.crl import RevocationStatus
from pki.exceptions import RevocationUnknown

__all__ = ["check_ocsp_response", "ocsp_request"]

_SKEW = dt.timedelta(minutes=5)


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> tuple[bytes, bytes]:
    """(DER request, nonce) about ``cert``, hashed with SHA-256."""
    nonce = secrets.token_bytes(16)
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    return req.public_bytes(serialization.Encoding.DER), nonce


def _signer(
    resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime
) -> x509.Certificate:
    for cert in (*resp.certificates, issuer):
        matches = (
            cert.subject == resp.responder_name
            if resp.responder_name is not None
            else x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
            == resp.responder_key_hash
        )
        if not matches:
            continue
        if cert is issuer:
            return cert
        try:
            cert.verify_directly_issued_by(issuer)
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise RevocationUnknown(
                f"the OCSP responder's certificate is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            )
        return cert
    raise RevocationUnknown("the OCSP response is not signed by a responder of the CA")


def _verify(resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    key, algo = signer.public_key(), resp.signature_hash_algorithm
    if algo is None:
        raise RevocationUnknown("the OCSP response's signature algorithm is unsupported")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algo))
        else:
            raise RevocationUnknown("the OCSP responder's key type is unsupported")
    except InvalidSignature:
        raise RevocationUnknown("the OCSP response's signature does not verify") from None


def check_ocsp_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None,
    now: dt.datetime,
) -> RevocationStatus:
    """The certificate's status from a DER response, or :class:`RevocationUnknown`."""
    try:
        return _check(der, cert, issuer, nonce, now)
    except (ValueError, UnsupportedAlgorithm) as exc:  # parts of a response parse lazily
        raise RevocationUnknown(f"the OCSP response does not parse: {exc}"[:200]) from None


def _check(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None,
    now: dt.datetime,
) -> RevocationStatus:
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise RevocationUnknown(f"not an OCSP response: {exc}") from None
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnknown(f"OCSP responder answered {resp.response_status.name}")
    _verify(resp, _signer(resp, issuer, now))
    if resp.serial_number != cert.serial_number:
        raise RevocationUnknown("the OCSP response is about another certificate")
    expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, resp.hash_algorithm).build()
    if (resp.issuer_key_hash, resp.issuer_name_hash) != (
        expected.issuer_key_hash,
        expected.issuer_name_hash,
    ):
        raise RevocationUnknown("the OCSP response is about another issuer")
    if nonce is not None:
        try:
            echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed != nonce:
            raise RevocationUnknown("the OCSP response does not echo our nonce (a replay?)")
    if resp.this_update_utc > now + _SKEW or (
        resp.next_update_utc is not None and resp.next_update_utc < now - _SKEW
    ):
        raise RevocationUnknown("the OCSP response is not current")
    if resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        raise RevocationUnknown("the OCSP responder does not know this certificate")
    until = resp.next_update_utc
    if resp.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        return RevocationStatus(resp.revocation_time_utc, resp.revocation_reason, valid_until=until)
    return RevocationStatus(None, valid_until=until)
