"""CMS with an external signer (the card): what ``sign_document_with`` makes, the relying party's
own checks accept — and refuse once the document, the attributes or the signature change."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pki_helpers import CHIYODA, HIERARCHY, RSA_KEY, TARO, ec_key, make_ca

from pki import (
    BadSignature,
    CaName,
    CertificationAuthority,
    CertKind,
    DocumentMismatch,
    Issued,
    RevocationSource,
    Trust,
    parse_signed,
    verify_signed,
)
from pki.cms import check_signature, sign_document_with
from pki.relying.verify import load_pem_bundle

DOC = "電子申請書: 転出届 / moving-out notification\n".encode()
TRUST = Trust.from_bundle(load_pem_bundle(HIERARCHY.chain_pem()))
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGNATURE_CA = HIERARCHY.issuer(CaName.SIGNATURE).cert


def card_like(key: rsa.RSAPrivateKey):  # type: ignore[no-untyped-def]
    """What the card does: SHA-256 DigestInfo of the bytes, then RSA PKCS#1 v1.5."""
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def rsa_certificate(ca: CertificationAuthority) -> Issued:
    return ca.issue(CertKind.SIGNATURE, RSA_KEY.public_key(), "card-ext", CHIYODA, TARO)


def crl_of(ca: CertificationAuthority) -> RevocationSource:
    return RevocationSource(crl=ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.DER))


async def test_attached_signature_passes_every_check_of_the_relying_party() -> None:
    ca = make_ca()
    issued = rsa_certificate(ca)
    signed = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY), chain=[SIGNATURE_CA])
    doc = parse_signed(signed)
    assert doc.content == DOC
    assert doc.signer == issued.certificate
    assert set(doc.certificates) == {issued.certificate, SIGNATURE_CA}
    assert doc.signature_algorithm == "rsassa_pkcs1v15"
    assert doc.message_digest == hashlib.sha256(DOC).digest()
    assert abs(doc.signing_time - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    check_signature(doc, DOC)
    verified = await verify_signed(signed, None, TRUST, crl_of(ca))
    assert verified.facts.name == TARO.name
    assert verified.serial == issued.certificate.serial_number


async def test_detached_signature_verifies_with_the_document() -> None:
    ca = make_ca()
    issued = rsa_certificate(ca)
    signed = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY), detached=True)
    assert parse_signed(signed).content is None
    verified = await verify_signed(signed, DOC, TRUST, crl_of(ca))
    assert verified.facts.address == TARO.address


async def test_a_tampered_document_is_refused() -> None:
    ca = make_ca()
    issued = rsa_certificate(ca)
    signed = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY))
    with pytest.raises(DocumentMismatch):
        check_signature(parse_signed(signed), DOC + b" ")
    with pytest.raises(DocumentMismatch):
        await verify_signed(signed, DOC.replace(b"moving", b"Moving"), TRUST, crl_of(ca))
    detached = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY), detached=True)
    with pytest.raises(DocumentMismatch):
        await verify_signed(detached, DOC[:-1], TRUST, crl_of(ca))


def _replace_signer_info(signed: bytes, **changes: object) -> bytes:
    info = cms.ContentInfo.load(signed)
    si = info["content"]["signer_infos"][0]
    for name, value in changes.items():
        si[name] = value
    return bytes(info.dump(force=True))


def test_a_signature_by_another_key_is_refused() -> None:
    issued = rsa_certificate(make_ca())
    with pytest.raises(BadSignature, match="does not match the certificate"):
        sign_document_with(DOC, issued.certificate, card_like(OTHER_RSA))  # the builder's check
    signed = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY))
    doc = parse_signed(signed)
    foreign = OTHER_RSA.sign(doc.signed_attrs, padding.PKCS1v15(), hashes.SHA256())
    forged = parse_signed(_replace_signer_info(signed, signature=foreign))
    with pytest.raises(BadSignature):
        check_signature(forged, DOC)  # the relying party's check, on a CMS made by hand


def test_altered_signed_attributes_are_refused() -> None:
    issued = rsa_certificate(make_ca())
    signed = sign_document_with(DOC, issued.certificate, card_like(RSA_KEY))
    later = sign_document_with(
        DOC,
        issued.certificate,
        card_like(RSA_KEY),
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
    )
    backdated = cms.ContentInfo.load(later)["content"]["signer_infos"][0]["signed_attrs"]
    with pytest.raises(BadSignature):
        check_signature(parse_signed(_replace_signer_info(signed, signed_attrs=backdated)), DOC)


def test_signed_attributes_are_in_der_order_and_are_what_was_signed() -> None:
    issued = rsa_certificate(make_ca())
    seen: list[bytes] = []

    def signer(data: bytes) -> bytes:
        seen.append(data)
        return card_like(RSA_KEY)(data)  # type: ignore[no-any-return]

    doc = parse_signed(sign_document_with(DOC, issued.certificate, signer))
    assert seen == [doc.signed_attrs]
    attrs = cms.CMSAttributes.load(doc.signed_attrs)
    encodings = [a.dump() for a in attrs]
    assert encodings == sorted(encodings)
    assert {a["type"].native for a in attrs} == {"content_type", "message_digest", "signing_time"}


def test_signing_time_is_utc_time_to_the_second() -> None:
    issued = rsa_certificate(make_ca())
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)
    doc = parse_signed(sign_document_with(DOC, issued.certificate, card_like(RSA_KEY), now=when))
    assert doc.signing_time == when.replace(microsecond=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), detached=st.booleans())
def test_any_document_round_trips_with_an_ec_signer(data: bytes, detached: bool) -> None:
    key = ec_key(2)
    issued = _EC_ISSUED
    signed = sign_document_with(
        data,
        issued.certificate,
        lambda b: key.sign(b, ec.ECDSA(hashes.SHA256())),
        detached=detached,
    )
    doc = parse_signed(signed)
    assert doc.content == (None if detached else data)
    assert doc.signature_algorithm == "ecdsa"
    check_signature(doc, data)


_EC_ISSUED = make_ca().issue(CertKind.SIGNATURE, ec_key(2).public_key(), "card-ec", CHIYODA, TARO)


@pytest.mark.parametrize("data", [b"-----BEGIN", b"see -----BEGIN PKCS7-----\nAAAA\n"])
def test_a_document_quoting_a_pem_header_is_still_a_der_signature(data: bytes) -> None:
    """What hypothesis found: attached content with a PEM header made the DER look like PEM."""
    key = ec_key(2)
    signer = lambda b: key.sign(b, ec.ECDSA(hashes.SHA256()))  # noqa: E731
    doc = parse_signed(sign_document_with(data, _EC_ISSUED.certificate, signer))
    assert doc.content == data
    check_signature(doc, data)
