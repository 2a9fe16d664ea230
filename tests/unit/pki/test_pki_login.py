"""``pki.verify_login``: an authentication certificate fit to log in with, or the precise reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pki_helpers import CHIYODA, HIERARCHY, ec_key, issue_pair, make_ca

from hub.wire import Refused
from pki import (
    BadSignature,
    CaName,
    CertKind,
    Expired,
    Hierarchy,
    Malformed,
    NotYetValid,
    RevocationSource,
    Revoked,
    Trust,
    WrongCa,
    WrongPolicy,
    verify_login,
)
from pki.ca.office import CaListener
from pki.exceptions import JLIS_BAD_CERTIFICATE
from pki.relying.verify import load_pem_bundle

TRUST = Trust.from_bundle(load_pem_bundle(HIERARCHY.chain_pem()))


def now() -> dt.datetime:
    """The time of the check: after the certificate was issued (never at collection time)."""
    return dt.datetime.now(dt.UTC)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def crl(ca_name: CaName = CaName.AUTHENTICATION, ca=None) -> RevocationSource:  # type: ignore[no-untyped-def]
    ca = ca or make_ca()
    return RevocationSource(crl=ca.crl_bytes(ca_name, serialization.Encoding.DER))


async def test_a_good_authentication_certificate_logs_in() -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    cert = await verify_login(der(auth.certificate), TRUST, crl(ca=ca), now=now())
    assert cert.serial_number == auth.serial


async def test_a_revoked_one_does_not() -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    ca.revoke(CaName.AUTHENTICATION, auth.serial, x509.ReasonFlags.key_compromise)
    later = now() + dt.timedelta(minutes=1)
    with pytest.raises(Revoked, match="revoked"):
        await verify_login(der(auth.certificate), TRUST, crl(ca=ca), now=later)


async def test_a_signature_certificate_is_no_login() -> None:
    ca = make_ca()
    sig, _ = issue_pair(ca)
    with pytest.raises(WrongPolicy, match="not a JPKI user-authentication certificate"):
        await verify_login(der(sig.certificate), TRUST, crl(ca=ca), now=now())


@pytest.mark.parametrize(
    ("shift", "error"),
    [(dt.timedelta(days=365 * 6), Expired), (-dt.timedelta(days=3), NotYetValid)],
)
async def test_out_of_its_validity_it_does_not(shift: dt.timedelta, error: type) -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    with pytest.raises(error):
        await verify_login(der(auth.certificate), TRUST, crl(ca=ca), now=now() + shift)


async def test_a_certificate_of_another_ca_does_not() -> None:
    other = make_ca(hierarchy=Hierarchy.generate(now() - dt.timedelta(days=1)))
    auth = other.issue(CertKind.AUTHENTICATION, ec_key(1).public_key(), "card-x", CHIYODA)
    with pytest.raises(WrongCa):
        await verify_login(der(auth.certificate), TRUST, crl(), now=now())


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"\x30\x82\xff\xff" + bytes(40)])
async def test_garbage_is_malformed(data: bytes) -> None:
    with pytest.raises(Malformed):
        await verify_login(data, TRUST, crl(), now=now())


async def test_a_tampered_certificate_does_not() -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    raw = bytearray(der(auth.certificate))
    raw[-10] ^= 0x01  # inside the CA's signature
    with pytest.raises(BadSignature, match="altered"):
        await verify_login(bytes(raw), TRUST, crl(ca=ca), now=now())


def _with_corrupt_extension(issuer: x509.Name) -> bytes:
    """A certificate naming ``issuer`` whose subjectAltName is not DER inside (cryptography
    loads it, and fails only when an extension is read). Found by ``bench/fuzz/fuzz_cert.py``."""
    key = ec_key(2)
    at = now() - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(at)
        .not_valid_after(at + dt.timedelta(days=30))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x04\xa0\x02\x06\x00"
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return der(cert)


async def test_a_certificate_with_a_corrupt_extension_is_malformed_not_a_crash() -> None:
    """It raised ValueError out of the login check (the portal's 500): the extensions were
    parsed only when the path check read the authority key id."""
    corrupt = _with_corrupt_extension(HIERARCHY.issuer(CaName.AUTHENTICATION).cert.subject)
    with pytest.raises(Malformed, match="not a DER certificate"):
        await verify_login(corrupt, TRUST, crl(), now=now())


async def test_jlis_pki_refuses_to_identify_a_certificate_with_a_corrupt_extension() -> None:
    corrupt = _with_corrupt_extension(HIERARCHY.issuer(CaName.AUTHENTICATION).cert.subject)
    outcome = await CaListener(make_ca()).identify(corrupt)
    assert isinstance(outcome, Refused) and outcome.code == JLIS_BAD_CERTIFICATE


async def test_a_certificate_of_an_unknown_version_is_malformed_not_a_crash() -> None:
    """x509.InvalidVersion is no ValueError: it escaped verify_login (bench/fuzz/fuzz_cert.py)."""
    _, auth = issue_pair(make_ca())
    good = der(auth.certificate)
    assert good[8:13] == bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2 (v3)
    bad = good[:12] + b"\x0c" + good[13:]
    with pytest.raises(Malformed, match="no known version"):
        await verify_login(bad, TRUST, crl(), now=now())
    outcome = await CaListener(make_ca()).identify(bad)
    assert isinstance(outcome, Refused) and outcome.code == JLIS_BAD_CERTIFICATE


FINDINGS = {p.stem: p.read_bytes() for p in (Path(__file__).parent / "fuzz_findings").glob("*.der")}


@pytest.mark.parametrize("name", sorted(FINDINGS))
async def test_each_fuzzing_finding_is_malformed_and_refused(name: str) -> None:
    """The inputs ``bench/fuzz/fuzz_cert.py`` crashed on, kept as they were found
    (``cert-name-bitstring``: a name attribute typed BIT STRING raised TypeError)."""
    data = FINDINGS[name]
    with pytest.raises(Malformed):
        await verify_login(data, TRUST, crl(), now=now())
    outcome = await CaListener(make_ca()).identify(data)
    assert isinstance(outcome, Refused) and outcome.code == JLIS_BAD_CERTIFICATE


BUNDLES = {p.stem: p.read_bytes() for p in (Path(__file__).parent / "fuzz_findings").glob("*.pem")}


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_each_fuzzed_trust_bundle_is_malformed(name: str) -> None:
    """``bundle-version-14``: x509.InvalidVersion escaped ``load_pem_bundle``."""
    with pytest.raises(Malformed, match="not a PEM certificate bundle"):
        load_pem_bundle(BUNDLES[name])
