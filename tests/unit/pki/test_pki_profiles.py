"""Certificate profiles: the JPKI subjects, OIDs, policies, key usages — and no personal data
where there must be none."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki_helpers import CHIYODA, HIERARCHY, TARO, ec_key, issue_pair, make_ca

from pki import POLICY, CaName, CertKind, PolicyRefused, facts_from_certificate
from pki.facts import FACT_OIDS

JLIS = "Japan Agency for Local Authority Information Systems"


def ou(cert: x509.Certificate) -> list[str]:
    return [
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]


def test_issuing_ca_subjects_are_the_real_jpki_ones() -> None:
    sig = HIERARCHY.cas[CaName.SIGNATURE].cert
    auth = HIERARCHY.cas[CaName.AUTHENTICATION].cert
    assert sig.subject.rfc4514_string() == (f"OU={JLIS},OU=JPKI for digital signature,O=JPKI,C=JP")
    assert ou(auth) == ["JPKI for user authentication", JLIS]
    for cert in (sig, auth, HIERARCHY.root.cert):
        assert isinstance(cert.public_key(), rsa.RSAPublicKey)
        assert cert.public_key().key_size == 2048
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == "sha256"
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert sig.issuer == HIERARCHY.root.cert.subject
    sig.verify_directly_issued_by(HIERARCHY.root.cert)


def test_responders_are_delegated_with_ocsp_signing_and_nocheck() -> None:
    for name in (CaName.SIGNATURE, CaName.AUTHENTICATION):
        r = HIERARCHY.responders[name].cert
        r.verify_directly_issued_by(HIERARCHY.cas[name].cert)
        eku = r.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
        r.extensions.get_extension_for_class(x509.OCSPNoCheck)
        assert not r.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_signature_certificate_carries_the_four_facts_as_utf8_othernames() -> None:
    sig, _ = issue_pair(make_ca())
    cert = sig.certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    others = {o.type_id.dotted_string: o.value for o in san.get_values_for_type(x509.OtherName)}
    assert sorted(others) == [f"1.2.392.200149.8.5.5.{i}" for i in range(1, 7)]
    for raw in others.values():
        assert raw[0] == 0x0C  # UTF8String
    assert core.UTF8String.load(others["1.2.392.200149.8.5.5.1"]).native == "番号 太郎"
    assert core.UTF8String.load(others["1.2.392.200149.8.5.5.3"]).native == "1"
    assert core.UTF8String.load(others["1.2.392.200149.8.5.5.4"]).native == "319750401"
    assert facts_from_certificate(cert) == TARO
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["1.2.392.200149.8.5.1.1"]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_encipherment


def test_authentication_certificate_carries_no_personal_data() -> None:
    _, auth = issue_pair(make_ca())
    cert = auth.certificate
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert facts_from_certificate(cert) is None
    der_text = cert.public_bytes(serialization.Encoding.DER)
    for value in (TARO.name, TARO.address):
        assert value.encode() not in der_text
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY[CertKind.AUTHENTICATION]]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.content_commitment
    assert not set(FACT_OIDS.values()) & {e.oid for e in cert.extensions}


def test_subject_is_country_two_localities_and_an_opaque_id() -> None:
    sig, auth = issue_pair(make_ca())
    for issued in (sig, auth):
        attrs = [(a.oid, a.value) for a in issued.certificate.subject]
        assert attrs == [
            (NameOID.COUNTRY_NAME, "JP"),
            (NameOID.LOCALITY_NAME, "Tokyo-to"),
            (NameOID.LOCALITY_NAME, "Chiyoda-ku"),
            (NameOID.COMMON_NAME, issued.subject_id),
        ]


def test_cn_and_serial_are_random_never_derived_from_the_person() -> None:
    ca = make_ca()
    a, b = issue_pair(ca, holder="card-7"), issue_pair(ca, holder="card-7")
    ids = {i.subject_id for pair in (a, b) for i in pair}
    serials = {i.serial for pair in (a, b) for i in pair}
    assert len(ids) == 4 and len(serials) == 4  # the same person: four unrelated ids
    for i in (*a, *b):
        assert i.serial.bit_length() > 64
        assert "card-7" not in i.subject_id and i.subject_id.isalnum()
        assert i.certificate.serial_number == i.serial


def test_certificates_point_at_crl_and_ocsp() -> None:
    sig, _ = issue_pair(make_ca())
    cdp = sig.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == "http://127.0.0.1:9/crl/signature.crl"
    aia = sig.certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [
        "http://127.0.0.1:9/ocsp",
        "http://127.0.0.1:9/ca/signature.der",
    ]


def test_facts_only_in_signature_certificates() -> None:
    ca = make_ca()
    key = ec_key().public_key()
    with pytest.raises(PolicyRefused, match="carries no personal data"):
        ca.issue(CertKind.AUTHENTICATION, key, "card-1", CHIYODA, TARO)
    with pytest.raises(PolicyRefused, match="needs the four facts"):
        ca.issue(CertKind.SIGNATURE, key, "card-1", CHIYODA, None)


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(65537, 1024).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
        ec.generate_private_key(ec.SECP521R1()).public_key(),
    ],
    ids=["rsa1024", "ed25519", "p521"],
)
def test_weak_or_unsupported_keys_are_refused(key: object) -> None:
    with pytest.raises(PolicyRefused, match="RSA 2048"):
        make_ca().issue(CertKind.AUTHENTICATION, key, "card-1", CHIYODA)  # type: ignore[arg-type]


def test_end_entity_never_outlives_its_ca() -> None:
    ca = make_ca()
    far = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    issued = ca.issue(CertKind.AUTHENTICATION, ec_key().public_key(), "c-1", CHIYODA, not_after=far)
    assert (
        issued.certificate.not_valid_after_utc
        == HIERARCHY.cas[CaName.AUTHENTICATION].cert.not_valid_after_utc
    )
