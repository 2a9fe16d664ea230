"""Verifying a signed electronic application: who signed, and whether to believe it. Pure.

The checks, each failing with its own error code:

1. the CMS parses, the document is the one signed (``pki.document_mismatch``), the signature
   over the signed attributes verifies (``pki.bad_signature``);
2. the signer's certificate was issued by a CA that chains to a trusted root
   (``pki.wrong_ca``; a certificate whose CA signature fails is ``pki.bad_signature``);
3. it is a signature certificate: keyUsage nonRepudiation (``pki.wrong_key_usage`` — e.g. an
   authentication certificate) and the JPKI signature policy (``pki.wrong_policy``);
4. every certificate on the path is valid now, and the signing time lies within the signer's
   validity (``pki.expired`` / ``pki.not_yet_valid``);
5. revocation at signing time (``pki.revoked``): revoked before the signature was made — by the
   earlier of the revocation date and the invalidity date — or revoked for keyCompromise at
   any time, since a thief chooses the signingTime he claims. A certificate revoked for another
   reason after signing verifies, with a note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from pki.ca.crl import RevocationStatus
from pki.cms import SignedDocument, load_certificate
from pki.exceptions import (
    BadSignature,
    Expired,
    Malformed,
    NotYetValid,
    Revoked,
    WrongCa,
    WrongKeyUsage,
    WrongPolicy,
)
from pki.facts import ResidentFacts, facts_from_certificate
from pki.profiles import POLICY, CertKind

__all__ = [
    "SKEW",
    "Trust",
    "VerifiedSignature",
    "check_path",
    "check_revocation",
    "load_pem_bundle",
]

SKEW = dt.timedelta(minutes=5)
_TIME = "%Y-%m-%d %H:%M:%SZ"


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    try:  # each parsed whole now (a corrupt one would fail in the middle of a later check)
        pem = x509.load_pem_x509_certificates(data)
        certs = [load_certificate(c.public_bytes(serialization.Encoding.DER)) for c in pem]
    except (ValueError, x509.InvalidVersion) as exc:
        raise Malformed(f"not a PEM certificate bundle: {exc}") from None
    return certs


@dataclass(frozen=True, slots=True)
class Trust:
    """Trusted roots and the CA certificates that may sit between them and a signer."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_bundle(cls, certs: Iterable[x509.Certificate]) -> Trust:
        """Self-signed certificates become roots, the others intermediates."""
        roots: list[x509.Certificate] = []
        inter: list[x509.Certificate] = []
        for c in certs:
            (roots if c.issuer == c.subject else inter).append(c)
        if not roots:
            raise Malformed("the CA bundle has no root certificate")
        return cls(tuple(roots), tuple(inter))


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    facts: ResidentFacts
    subject_id: str
    serial: int
    signing_time: dt.datetime
    issuer: str
    notes: tuple[str, ...] = ()


def issued_by(cert: x509.Certificate, candidates: Iterable[x509.Certificate]) -> x509.Certificate:
    """The CA among ``candidates`` whose key signed ``cert``; :class:`WrongCa` if none did."""
    named = [c for c in candidates if c.subject == cert.issuer and _is_ca(c)]
    if not named:
        raise WrongCa(f"issued by {cert.issuer.rfc4514_string()!r}, which is not a trusted CA")
    for ca in named:
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return ca
    if any(_key_id(ca) == _authority_key_id(cert) for ca in named):
        raise BadSignature("the certificate was altered: its CA's signature does not verify")
    raise WrongCa("issued by a CA of the same name but another key: not a trusted CA")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bc.ca and ku.key_cert_sign


def _key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _authority_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return aki.key_identifier


def _valid_at(cert: x509.Certificate, at: dt.datetime, what: str) -> None:
    if at < cert.not_valid_before_utc:
        raise NotYetValid(f"{what} is not valid before {cert.not_valid_before_utc:{_TIME}}")
    if at > cert.not_valid_after_utc:
        raise Expired(f"{what} expired on {cert.not_valid_after_utc:{_TIME}}")


def check_path(
    doc: SignedDocument, trust: Trust, now: dt.datetime
) -> tuple[x509.Certificate, ResidentFacts]:
    """The signer's issuing CA and the four facts, once the path and profile check out."""
    leaf = doc.signer
    issuer = issued_by(leaf, (*trust.intermediates, *doc.certificates))
    root = issued_by(issuer, trust.roots)
    if root.issuer != root.subject:
        raise WrongCa("the path does not end at a trusted root")
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise WrongKeyUsage("the certificate states no key usage") from None
    if not (ku.digital_signature and ku.content_commitment):
        raise WrongKeyUsage(
            "not a signature certificate (no nonRepudiation): "
            "an authentication certificate cannot sign a document"
        )
    try:
        policies = leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        raise WrongPolicy("the certificate states no policy") from None
    if POLICY[CertKind.SIGNATURE] not in {p.policy_identifier for p in policies}:
        raise WrongPolicy("the certificate is not under the JPKI signature policy")
    for cert, what in (
        (root, "the root CA"),
        (issuer, "the issuing CA"),
        (leaf, "the certificate"),
    ):
        _valid_at(cert, now, what)
    if doc.signing_time > now + SKEW:
        raise BadSignature("the signing time is in the future")
    _valid_at(leaf, doc.signing_time, "at the signing time, the certificate")
    facts = facts_from_certificate(leaf)
    if facts is None:
        raise WrongKeyUsage("the certificate carries none of the four facts")
    return issuer, facts


def check_login_path(leaf: x509.Certificate, trust: Trust, now: dt.datetime) -> x509.Certificate:
    """The issuing CA of a user-authentication certificate (利用者証明用), once its path, key
    usage, policy and validity check out."""
    issuer = issued_by(leaf, trust.intermediates)
    root = issued_by(issuer, trust.roots)
    if root.issuer != root.subject:
        raise WrongCa("the path does not end at a trusted root")
    try:
        policies = leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise WrongPolicy("the certificate states no policy or no key usage") from None
    if POLICY[CertKind.AUTHENTICATION] not in {p.policy_identifier for p in policies}:
        raise WrongPolicy("not a JPKI user-authentication certificate")
    if not ku.digital_signature:
        raise WrongKeyUsage("the certificate may not sign a login challenge")
    for cert, what in (
        (root, "the root CA"),
        (issuer, "the issuing CA"),
        (leaf, "the certificate"),
    ):
        _valid_at(cert, now, what)
    return issuer


def check_revocation(doc: SignedDocument, status: RevocationStatus) -> tuple[str, ...]:
    """Raise :class:`Revoked` when the revocation counts against this signature."""
    if status.revoked_at is None:
        return ()
    reason = status.reason.value if status.reason else "unspecified"
    since = min(status.invalid_since or status.revoked_at, status.revoked_at)
    if status.reason is x509.ReasonFlags.key_compromise:
        raise Revoked(
            f"revoked ({reason}) on {since:{_TIME}}: "
            "signatures by a compromised key are not trusted, whatever their signing time"
        )
    if doc.signing_time >= since:
        raise Revoked(f"revoked ({reason}) since {since:{_TIME}}, before it signed")
    return (f"revoked ({reason}) on {since:{_TIME}}, after it signed",)
