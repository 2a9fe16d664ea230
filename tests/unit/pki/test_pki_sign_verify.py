"""Signed electronic applications: sign, verify, and each bad input refused for its own reason."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pki_helpers import CHIYODA, HIERARCHY, RSA_KEY, TARO, Clock, ec_key, issue_pair, make_ca

from pki import (
    BadSignature,
    CaName,
    CertificationAuthority,
    CertKind,
    DocumentMismatch,
    EventKind,
    Expired,
    Hierarchy,
    Malformed,
    NotYetValid,
    PkiError,
    ResidentEvent,
    RevocationSource,
    RevocationUnknown,
    Revoked,
    Trust,
    WrongCa,
    WrongKeyUsage,
    WrongPolicy,
    parse_signed,
    sign_document,
    verify_signed,
)
from pki.cms import check_signature
from pki.facts import facts_to_other_names
from pki.profiles import key_usage_for
from pki.relying.verify import check_path, load_pem_bundle

DOC = "電子申請書: 転入届 / moving-in notification\n".encode()
TRUST = Trust.from_bundle(load_pem_bundle(HIERARCHY.chain_pem()))
FOREIGN = Hierarchy.generate(dt.datetime.now(dt.UTC))


def crl_of(ca: CertificationAuthority, name: CaName = CaName.SIGNATURE) -> RevocationSource:
    return RevocationSource(crl=ca.crl_bytes(name, serialization.Encoding.DER))


async def verify(ca: CertificationAuthority, signed: bytes, doc: bytes | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return await verify_signed(signed, doc, TRUST, crl_of(ca), **kw)  # type: ignore[arg-type]


async def test_attached_signature_verifies_and_names_the_signer() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    v = await verify(ca, signed)
    assert v.facts == TARO
    assert v.subject_id == sig.subject_id and v.serial == sig.serial
    assert abs(v.signing_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert "JPKI for digital signature" in v.issuer and v.notes == ()
    assert (await verify(ca, signed, DOC)).facts == TARO  # the same document given alongside


async def test_detached_and_pem_and_rsa_signatures_verify() -> None:
    ca = make_ca()
    cert = ca.issue(CertKind.SIGNATURE, RSA_KEY.public_key(), "card-r", CHIYODA, TARO).certificate
    detached = sign_document(DOC, cert, RSA_KEY, detached=True)
    assert parse_signed(detached).content is None
    assert (await verify(ca, detached, DOC)).facts == TARO
    with pytest.raises(Malformed, match="detached"):
        await verify(ca, detached)
    pem = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DOC)
        .add_signer(cert, RSA_KEY, hashes.SHA256())
        .sign(serialization.Encoding.PEM, [pkcs7.PKCS7Options.Binary])
    )
    assert (await verify(ca, pem)).facts == TARO


async def test_a_signature_over_a_different_document_is_refused() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    detached = sign_document(DOC, sig.certificate, ec_key(0), detached=True)
    with pytest.raises(DocumentMismatch, match="different document"):
        await verify(ca, detached, DOC + b" ")
    attached = sign_document(DOC, sig.certificate, ec_key(0))
    with pytest.raises(DocumentMismatch):
        await verify(ca, attached, b"another application")
    tampered = attached.replace("転入届".encode(), "転出届".encode())
    assert tampered != attached
    with pytest.raises(DocumentMismatch):
        await verify(ca, tampered)


async def test_tampered_signature_and_certificate_are_refused() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    signed = bytearray(sign_document(DOC, sig.certificate, ec_key(0)))
    signed[-3] ^= 0x01  # inside the signature value, the last field
    with pytest.raises(BadSignature, match="altered"):
        await verify(ca, bytes(signed))
    forged = sign_document(DOC, sig.certificate, ec_key(0)).replace(
        "太郎".encode(), "次郎".encode()
    )
    with pytest.raises(BadSignature, match="certificate was altered"):
        await verify(ca, forged)
    other_key = sign_document(DOC, sig.certificate, ec_key(3))  # someone else's key, Taro's cert
    with pytest.raises(BadSignature):
        await verify(ca, other_key)


async def test_truncated_signatures_are_malformed() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    for cut in range(0, len(signed), 37):
        with pytest.raises(Malformed):
            await verify(ca, signed[:cut])
    with pytest.raises(Malformed):
        await verify(ca, signed + b"\x00")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=600))
def test_random_bytes_are_malformed(data: bytes) -> None:
    with pytest.raises(Malformed):
        parse_signed(data)


_CA = make_ca()
_SIGNED = sign_document(DOC, issue_pair(_CA)[0].certificate, ec_key(0))
_ORIGINAL = parse_signed(_SIGNED)
_IN_CONTENT = _SIGNED.index(DOC) + 3
_IN_SIGNING_TIME = _SIGNED.rindex(b"\x17\x0d") + 2 + 11  # the signing time's last digit
_SECOND_LATER = _SIGNED[_IN_SIGNING_TIME] + (1 if _SIGNED[_IN_SIGNING_TIME] < ord("9") else -1)


@settings(max_examples=600, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 255))
@example(_IN_CONTENT, ord("x"))  # the document itself
@example(_IN_SIGNING_TIME, _SECOND_LATER)  # a signed attribute, still a valid time
def test_a_changed_byte_is_refused_unless_nothing_signed_changed(pos: int, value: int) -> None:
    data = bytearray(_SIGNED)
    data[pos % len(data)] = value
    try:
        doc = parse_signed(bytes(data))
        check_signature(doc, doc.content or b"")
        check_path(doc, TRUST, dt.datetime.now(dt.UTC))
    except PkiError:
        return  # refused, and cleanly
    # accepted: then it is the document signed, by its signer, with its signed attributes
    assert (doc.content, doc.signer, doc.signed_attrs) == (
        DOC,
        _ORIGINAL.signer,
        _ORIGINAL.signed_attrs,
    )


async def test_no_signed_attributes_is_refused() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    bare = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DOC)
        .add_signer(sig.certificate, ec_key(0), hashes.SHA256())
        .sign(
            serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoAttributes]
        )
    )
    with pytest.raises(Malformed, match="signing time"):
        await verify(ca, bare)


async def test_expired_and_not_yet_valid_certificates() -> None:
    ca = make_ca()
    now = ca.now()
    key = ec_key(0)
    old = ca.issue(
        CertKind.SIGNATURE,
        key.public_key(),
        "card-1",
        CHIYODA,
        TARO,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    with pytest.raises(Expired, match="expired"):
        await verify(ca, sign_document(DOC, old.certificate, key))
    future = ca.issue(
        CertKind.SIGNATURE,
        key.public_key(),
        "card-1",
        CHIYODA,
        TARO,
        not_before=now + dt.timedelta(days=1),
    )
    with pytest.raises(NotYetValid):
        await verify(ca, sign_document(DOC, future.certificate, key))
    good = issue_pair(ca)[0]
    signed = sign_document(DOC, good.certificate, key)
    with pytest.raises(Expired):
        await verify(ca, signed, now=good.certificate.not_valid_after_utc + dt.timedelta(seconds=1))


async def test_an_authentication_certificate_cannot_sign_an_application() -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    signed = sign_document(DOC, auth.certificate, ec_key(1))
    with pytest.raises(WrongKeyUsage, match="authentication certificate"):
        await verify_signed(signed, None, TRUST, crl_of(ca, CaName.AUTHENTICATION))


async def test_a_certificate_from_another_ca_is_wrong_ca() -> None:
    foreign = make_ca(hierarchy=FOREIGN)  # same names as JPKI, other keys
    sig, _ = issue_pair(foreign)
    with pytest.raises(WrongCa, match="another key"):
        await verify(make_ca(), sign_document(DOC, sig.certificate, ec_key(0)))
    stranger = _self_made(FOREIGN.root.key, x509.Name.from_rfc4514_string("CN=Evil CA,C=JP"))
    with pytest.raises(WrongCa, match="not a trusted CA"):
        await verify(make_ca(), sign_document(DOC, stranger, ec_key(0)))


def _self_made(key, issuer: x509.Name, policy: str = "1.2.392.200149.8.5.1.1") -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=X,C=JP"))
        .issuer_name(issuer)
        .public_key(ec_key(0).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(key_usage_for(CertKind.SIGNATURE), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(facts_to_other_names(TARO)), critical=False)
        .sign(key, hashes.SHA256())
    )


async def test_a_signature_certificate_under_another_policy_is_refused() -> None:
    sig_ca = HIERARCHY.cas[CaName.SIGNATURE]
    cert = _self_made(sig_ca.key, sig_ca.cert.subject, policy="1.2.392.200149.8.5.1.3")
    with pytest.raises(WrongPolicy):
        await verify(make_ca(), sign_document(DOC, cert, ec_key(0)))


async def test_revoked_before_signing_is_refused() -> None:
    clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    ca = make_ca(clock)
    sig, _ = issue_pair(ca)
    clock.shift(days=2)
    # moved yesterday, processed now; the application was signed today after the move
    ca.apply_event(ResidentEvent(EventKind.MOVED, "card-1", clock.now - dt.timedelta(days=1)))
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    with pytest.raises(Revoked, match=r"affiliationChanged.*before it signed"):
        await verify(ca, signed)


async def test_revoked_after_signing_verifies_with_a_note_unless_the_key_was_compromised() -> None:
    clock = Clock()
    ca = make_ca(clock)
    sig, _ = issue_pair(ca)
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    clock.shift(minutes=30)
    ca.apply_event(ResidentEvent(EventKind.DIED, "card-1", clock.now))
    v = await verify(ca, signed, now=clock.now)
    assert v.notes and "after it signed" in v.notes[0]
    clock = Clock()
    lost = make_ca(clock)
    sig2, _ = issue_pair(lost)
    signed2 = sign_document(DOC, sig2.certificate, ec_key(0))
    clock.shift(minutes=30)
    lost.apply_event(ResidentEvent(EventKind.CARD_LOST, "card-1", clock.now))
    with pytest.raises(Revoked, match="compromised"):
        await verify(lost, signed2, now=clock.now)


async def test_no_usable_revocation_information_is_refused() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    with pytest.raises(RevocationUnknown, match="not the issuing CA"):
        await verify_signed(signed, None, TRUST, crl_of(ca, CaName.AUTHENTICATION))
    with pytest.raises(RevocationUnknown, match="not a CRL"):
        await verify_signed(signed, None, TRUST, RevocationSource(crl=b"junk"))
    stale = ca.now() + 3 * ca.crl_interval
    with pytest.raises(RevocationUnknown, match="out of date"):
        await verify(ca, signed, now=min(stale, sig.certificate.not_valid_after_utc))
    # the certificate's own CRL URL points nowhere here (port 9)
    with pytest.raises(RevocationUnknown, match=r"unreachable|HTTP"):
        await verify_signed(signed, None, TRUST, RevocationSource())


def test_trust_bundle_needs_a_root() -> None:
    with pytest.raises(Malformed, match="no root"):
        Trust.from_bundle([HIERARCHY.cas[CaName.SIGNATURE].cert])
    with pytest.raises(Malformed):
        load_pem_bundle(b"not pem")


def test_a_certificate_repeating_an_extension_is_malformed() -> None:
    # what hypothesis found: authorityKeyIdentifier's OID (2.5.29.35) turned into
    # subjectKeyIdentifier's (2.5.29.14), which the certificate already has
    aki = bytes.fromhex("0603551d23")
    assert aki in _SIGNED
    data = _SIGNED.replace(aki, bytes.fromhex("0603551d0e"), 1)
    with pytest.raises(Malformed):
        parse_signed(data)


def _header_end(data: bytes, at: int) -> int:
    """Where the content of the DER element at ``at`` starts."""
    first = data[at + 1]
    return at + 2 + (first & 0x7F if first & 0x80 else 0)


def test_a_certificate_name_of_a_type_cryptography_cannot_read_is_malformed() -> None:
    """What a bit flip found once: the first name in the signer certificate's subjectAltName
    turned into an x400Address ([3]), which `cryptography` raises for with an exception of its
    own (not a ValueError)."""
    data = bytearray(_SIGNED)
    san = data.find(bytes.fromhex("0603551d11"))  # the subjectAltName OID
    assert san > 0
    octets = san + 5 + (3 if data[san + 5] == 0x01 else 0)  # past the OID and any critical flag
    names = _header_end(data, _header_end(data, octets))  # into the OCTET STRING, its SEQUENCE
    assert data[names] & 0xE0 == 0xA0  # a context-tagged, constructed GeneralName
    data[names] = 0xA3
    with pytest.raises(Malformed):
        parse_signed(bytes(data))


def test_a_certificate_whose_signature_says_bits_are_unused_is_refused() -> None:
    """The signer's certificate re-encoded with its signature BIT STRING's unused-bits count
    raised (its last byte's low bit is 0, so the bits are still valid DER): ``cryptography``
    verifies the same bytes and accepted it, another certificate by its DER. The hypothesis
    test above found it when an RSA signature happened to end in a zero bit."""
    ca = make_ca()
    for index in range(64):  # a signature ending in a 0 bit: half of them
        cert = issue_pair(ca, key_index=2 * index)[0].certificate
        if not cert.signature[-1] & 1:
            break
    else:
        pytest.fail("no signature ending in a 0 bit in 64")
    signed = bytearray(sign_document(DOC, cert, ec_key(2 * index)))
    der = cert.public_bytes(serialization.Encoding.DER)
    at = bytes(signed).index(der) + len(der) - len(cert.signature) - 1  # the unused-bits count
    assert signed[at] == 0
    signed[at] = 1
    with pytest.raises(Malformed, match="bits unused"):
        parse_signed(bytes(signed))
