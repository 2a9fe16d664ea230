"""The OCSP responder's core (RFC 6960): request in, signed response out. Pure.

- A request that does not parse, asks about more than one certificate, uses an unsupported
  hash, names a serial no certificate can have (negative, over 20 octets) or carries a nonce
  over 32 bytes (RFC 8954) gets ``malformedRequest``.
- A request about a CA this responder does not serve, or from a caller not entitled to ask
  about that CA, gets ``unauthorized`` (RFC 5019 §2.2.3).
- Otherwise ``successful`` with good / revoked (time and reason) / unknown (never issued),
  the revocation time being when the change took effect (the CRL's invalidityDate, if any),
  signed by the CA's delegated responder (id-kp-OCSPSigning, ocsp-nocheck), responder id by
  key hash, the responder certificate included, the nonce echoed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import keys  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki.ca.hierarchy import ISSUING, Hierarchy
from pki.ca.ledger import RevocationRecord
from pki.profiles import CaName

__all__ = ["MAX_NONCE", "OcspResponder", "StatusLookup", "unsuccessful"]

MAX_NONCE = 32
_HASHES = ("sha1", "sha256", "sha384", "sha512")
# (known?, revocation if revoked)
StatusLookup = Callable[[CaName, int], tuple[bool, RevocationRecord | None]]


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


MALFORMED = unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
UNAUTHORIZED = unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


@dataclass(frozen=True, slots=True)
class _Parsed:
    ca: CaName
    request: ocsp.OCSPRequest
    algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def _effective(rec: RevocationRecord) -> dt.datetime:
    """OCSP has no invalidityDate: report the time the change took effect, as CRLs imply."""
    return min(rec.invalid_since or rec.revoked_at, rec.revoked_at)


class OcspResponder:
    def __init__(self, hierarchy: Hierarchy, lookup: StatusLookup, validity: dt.timedelta) -> None:
        self._h = hierarchy
        self._lookup = lookup
        self._validity = validity
        self._ids: dict[tuple[str, bytes, bytes], CaName] = {}
        for name in ISSUING:
            cert = hierarchy.cas[name].cert
            spki = keys.PublicKeyInfo.load(
                cert.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            bits = spki["public_key"].contents[1:]  # BIT STRING contents less the unused-bits byte
            subject = cert.subject.public_bytes()
            for alg in _HASHES:
                key = (alg, hashlib.new(alg, subject).digest(), hashlib.new(alg, bits).digest())
                self._ids[key] = name

    def parse(self, der: bytes) -> _Parsed | bytes:
        """The request, or the unsuccessful response to send instead."""
        try:
            req = ocsp.load_der_ocsp_request(der)
            algorithm = req.hash_algorithm
            name_hash, key_hash, serial = (
                req.issuer_name_hash,
                req.issuer_key_hash,
                req.serial_number,
            )
        except (ValueError, UnsupportedAlgorithm):
            return MALFORMED
        if serial < 0 or serial.bit_length() > 160:  # RFC 5280 §4.1.2.2: positive, ≤ 20 octets
            return MALFORMED
        nonce: bytes | None = None
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            pass
        except ValueError:
            return MALFORMED
        if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
            return MALFORMED
        ca = self._ids.get((algorithm.name, name_hash, key_hash))
        if ca is None:
            return UNAUTHORIZED
        return _Parsed(ca, req, algorithm, nonce)

    def respond(self, parsed: _Parsed, now: dt.datetime) -> bytes:
        req = parsed.request
        known, revocation = self._lookup(parsed.ca, req.serial_number)
        if revocation is not None:
            status = ocsp.OCSPCertStatus.REVOKED
        elif known:
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.UNKNOWN
        this_update = now.astimezone(dt.UTC).replace(microsecond=0)
        responder = self._h.responders[parsed.ca]
        b = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=parsed.algorithm,
            cert_status=status,
            this_update=this_update,
            next_update=this_update + self._validity,
            revocation_time=_effective(revocation) if revocation else None,
            revocation_reason=revocation.reason if revocation else None,
        )
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert).certificates(
            [responder.cert]
        )
        if parsed.nonce is not None:
            b = b.add_extension(x509.OCSPNonce(parsed.nonce), critical=False)
        return b.sign(responder.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
