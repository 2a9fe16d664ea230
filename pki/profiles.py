"""Certificate profiles after JPKI: the CA hierarchy, the two end-entity certificates, validity.

Pure: every builder takes its keys, times, serials and ids as arguments.

- Root ``C=JP, O=JPKI, OU=JPKI root, OU=Japan Agency for Local Authority Information
  Systems`` (ours: the real JPKI CAs are self-signed roots each; the issue asks for one root).
- Issuing CAs with the real subjects (``OU=JPKI for digital signature`` / ``OU=JPKI for user
  authentication``), RSA-2048, keyCertSign+cRLSign, CA:TRUE pathlen 0, and the policy of the
  certificates each issues (``POLICY``), so explicit-policy path validation passes.
- A delegated OCSP responder per issuing CA: id-kp-OCSPSigning, id-pkix-ocsp-nocheck.
- End entities: subject ``C=JP, L=<prefecture>, L=<municipality>, CN=<opaque id>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from pki.facts import Locality, ResidentFacts, facts_to_other_names

__all__ = [
    "POLICY",
    "CaName",
    "CertKind",
    "Endpoints",
    "Issuer",
    "ca_certificate",
    "ca_subject",
    "end_entity",
    "key_usage_for",
    "responder_certificate",
]

_JLIS = "Japan Agency for Local Authority Information Systems"


class CertKind(StrEnum):
    SIGNATURE = "signature"  # 署名用電子証明書
    AUTHENTICATION = "authentication"  # 利用者証明用電子証明書


class CaName(StrEnum):
    ROOT = "root"
    SIGNATURE = "signature"
    AUTHENTICATION = "authentication"


POLICY = {
    CertKind.SIGNATURE: x509.ObjectIdentifier("1.2.392.200149.8.5.1.1"),
    CertKind.AUTHENTICATION: x509.ObjectIdentifier("1.2.392.200149.8.5.1.3"),
}
_CA_OU = {
    CaName.ROOT: "JPKI root",
    CaName.SIGNATURE: "JPKI for digital signature",
    CaName.AUTHENTICATION: "JPKI for user authentication",
}


@dataclass(frozen=True, slots=True)
class Issuer:
    """A CA's (or responder's) key and certificate."""

    key: CertificateIssuerPrivateKeyTypes
    cert: x509.Certificate

    def __repr__(self) -> str:
        return f"Issuer({self.cert.subject.rfc4514_string()})"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the certificates point for CRLs, OCSP and the issuer's certificate."""

    base_url: str

    def crl(self, ca: CaName) -> str:
        return f"{self.base_url.rstrip('/')}/crl/{ca.value}.crl"

    def ocsp(self) -> str:
        return f"{self.base_url.rstrip('/')}/ocsp"

    def ca(self, ca: CaName) -> str:
        return f"{self.base_url.rstrip('/')}/ca/{ca.value}.der"


def ca_subject(name: CaName) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _CA_OU[name]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _JLIS),
        ]
    )


def key_usage_for(kind: CertKind) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=kind is CertKind.SIGNATURE,  # nonRepudiation
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(False, False, False, False, False, True, True, False, False)


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def ca_certificate(
    name: CaName,
    public_key: CertificatePublicKeyTypes,
    signer: Issuer | None,
    *,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    signer_key: CertificateIssuerPrivateKeyTypes | None = None,
) -> x509.Certificate:
    """The root (``signer`` None: self-signed with ``signer_key``) or an issuing CA."""
    subject = ca_subject(name)
    b = _base(
        subject,
        signer.cert.subject if signer else subject,
        public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
    )
    b = b.add_extension(
        x509.BasicConstraints(ca=True, path_length=None if signer is None else 0), critical=True
    ).add_extension(_ca_usage(), critical=True)
    if signer is not None:
        # the policy of the certificates it issues, so that a relying party requiring it
        # (RFC 5280 §6.1, e.g. ``openssl verify -policy … -explicit_policy``) finds it on the path
        policy = x509.PolicyInformation(POLICY[CertKind(name.value)], None)
        b = b.add_extension(x509.CertificatePolicies([policy]), critical=False)
        b = b.add_extension(_aki(signer.cert), critical=False)
        return b.sign(signer.key, hashes.SHA256())
    if signer_key is None:
        raise ValueError("a self-signed root needs its own key")
    return b.sign(signer_key, hashes.SHA256())


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def responder_certificate(
    ca: Issuer,
    public_key: CertificatePublicKeyTypes,
    *,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    ou = ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"OCSP responder, {ou!s}"),
        ]
    )
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    return (
        _base(subject, ca.cert.subject, public_key, **_times(serial, not_before, not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(_aki(ca.cert), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def end_entity(
    ca: Issuer,
    ca_name: CaName,
    kind: CertKind,
    public_key: CertificatePublicKeyTypes,
    *,
    locality: Locality,
    facts: ResidentFacts | None,
    subject_id: str,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    endpoints: Endpoints,
) -> x509.Certificate:
    """A resident's certificate. ``facts`` only (and always) for a signature certificate."""
    if (facts is None) is (kind is CertKind.SIGNATURE):
        raise ValueError("the four facts go in a signature certificate and nowhere else")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, locality.prefecture),
            x509.NameAttribute(NameOID.LOCALITY_NAME, locality.municipality),
            x509.NameAttribute(NameOID.COMMON_NAME, subject_id),
        ]
    )
    policies = x509.CertificatePolicies([x509.PolicyInformation(POLICY[kind], None)])
    access: Sequence[x509.AccessDescription] = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, _uri(endpoints.ocsp())),
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, _uri(endpoints.ca(ca_name))
        ),
    ]
    crl_dp = x509.DistributionPoint([_uri(endpoints.crl(ca_name))], None, None, None)
    b = (
        _base(subject, ca.cert.subject, public_key, **_times(serial, not_before, not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage_for(kind), critical=True)
        .add_extension(policies, critical=False)
        .add_extension(_aki(ca.cert), critical=False)
        .add_extension(x509.CRLDistributionPoints([crl_dp]), critical=False)
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
    )
    if facts is not None:
        b = b.add_extension(
            x509.SubjectAlternativeName(facts_to_other_names(facts)), critical=False
        )
    return b.sign(ca.key, hashes.SHA256())


def _times(serial: int, not_before: dt.datetime, not_after: dt.datetime) -> dict[str, Any]:
    return {"serial": serial, "not_before": not_before, "not_after": not_after}


def _uri(url: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(url)
