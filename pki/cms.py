"""CMS (PKCS#7) SignedData for electronic applications: sign with ``cryptography``, parse with
``asn1crypto``, check the signature over the signed attributes. Pure.

We sign attached by default (one self-contained ``.p7s`` per application, as e-Tax and the
one-stop service take them) and detached on request; both verify. The signed attributes always
carry contentType, messageDigest and signingTime; verification requires all three, since the
revocation check compares signingTime with the revocation time.

``sign_document`` wants the private key (``cryptography``'s builder); ``sign_document_with``
builds the same SignedData with ``asn1crypto`` around an external signer — the individual
number card, which signs a SHA-256 DigestInfo with its own key and never gives the key out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, cms, parser, pem  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from pki.exceptions import BadSignature, DocumentMismatch, Malformed

__all__ = [
    "MAX_SIGNED",
    "SignedDocument",
    "Signer",
    "check_signature",
    "load_certificate",
    "parse_signed",
    "sign_document",
    "sign_document_with",
]

MAX_SIGNED = 16 * 1024 * 1024
_DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def sign_document(
    data: bytes,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    chain: Sequence[x509.Certificate] = (),
    detached: bool = False,
) -> bytes:
    """DER SignedData over ``data`` by ``key`` (SHA-256; signingTime is the current time).
    ``chain`` (the issuing CA) is included after the signer's certificate, so that a relying
    party trusting only the root finds the path."""
    options = [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for ca in chain:
        builder = builder.add_certificate(ca)
    return builder.sign(serialization.Encoding.DER, options)


Signer = Callable[[bytes], bytes]
"""Signs the DER of the signed attributes (a SET OF): RSA PKCS#1 v1.5 over their SHA-256
(what ``card_service.reader.jpki.sign`` does), or DER ECDSA with SHA-256 for an EC certificate."""


def _signed_attributes(data: bytes, now: dt.datetime) -> Any:
    """contentType, messageDigest (SHA-256) and signingTime; asn1crypto writes the SET OF in
    DER order (sorted encodings), so a verifier that re-encodes them gets the same bytes."""
    when = now.astimezone(dt.UTC).replace(microsecond=0)
    time = {"utc_time": when} if 1950 <= when.year < 2050 else {"generalized_time": when}
    return cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(data).digest()]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time(time)]}),
        ]
    )


def _check_own(cert: x509.Certificate, signature: bytes, signed: bytes) -> str:
    """The signer's answer verifies with the certificate's key (a signer holding another key —
    another card in the reader — fails here, not at the relying party); the algorithm's name."""
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            return "rsassa_pkcs1v15"
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
            return "sha256_ecdsa"
    except InvalidSignature:
        raise BadSignature("the signer's signature does not match the certificate") from None
    raise BadSignature("only RSA and EC certificates can sign")


def sign_document_with(
    data: bytes,
    cert: x509.Certificate,
    signer: Signer,
    *,
    chain: Sequence[x509.Certificate] = (),
    detached: bool = False,
    now: dt.datetime | None = None,
) -> bytes:
    """DER SignedData over ``data`` signed by ``signer`` for ``cert`` (SHA-256; signingTime is
    ``now``, by default the current time). ``chain`` (e.g. the issuing CA) is included after
    the signer's certificate. Raises :class:`BadSignature` when the signer's answer does not
    verify with ``cert``."""
    attrs = _signed_attributes(data, now or dt.datetime.now(dt.UTC))
    to_sign = attrs.dump()  # the SET OF itself: RFC 5652 §5.4
    signature = signer(to_sign)
    algorithm = _check_own(cert, signature, to_sign)
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
            "signature": signature,
        }
    )
    certificates = [asn1_cert] + [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain
    ]
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data", "content": None if detached else data},
            "certificates": [cms.CertificateChoices({"certificate": c}) for c in certificates],
            "signer_infos": [signer_info],
        }
    )
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(info.dump())


@dataclass(frozen=True, slots=True)
class SignedDocument:
    content: bytes | None  # None: a detached signature
    certificates: tuple[x509.Certificate, ...]
    signer: x509.Certificate
    digest: hashes.HashAlgorithm
    signature_algorithm: str
    signature: bytes
    signed_attrs: bytes  # DER, re-tagged as SET OF: what was signed
    message_digest: bytes
    signing_time: dt.datetime


def load_certificate(der: bytes) -> x509.Certificate:
    """A certificate with every part parsed now: ``cryptography`` parses names, extensions and
    keys lazily, so a corrupt one would otherwise fail later, in the middle of a check (a
    ``ValueError`` where a caller expects a refusal). Raises ``ValueError`` itself — also for a
    signature BIT STRING that says some of its bits are unused: a CA's signature is whole
    bytes, and ``cryptography`` verifies those bytes whatever the count says, so the same
    certificate could otherwise come in another encoding (another fingerprint, another DER)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        try:
            cert = x509.load_der_x509_certificate(der)
        except CryptographyDeprecationWarning as exc:  # e.g. a serial that is not positive
            raise ValueError(str(exc)) from None
        except x509.InvalidVersion as exc:  # not a ValueError: cryptography's own
            raise ValueError(f"a certificate of no known version: {exc}") from None
    try:
        _ = (cert.subject, cert.issuer, cert.extensions, cert.public_key())
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_hash_algorithm)
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"unsupported algorithm in a certificate: {exc}") from None
    except x509.DuplicateExtension as exc:  # not a ValueError: cryptography's own
        raise ValueError(f"a certificate repeats an extension: {exc}") from None
    except x509.UnsupportedGeneralNameType as exc:  # likewise (a name of a type it cannot read)
        raise ValueError(f"a certificate holds a name of an unsupported type: {exc}") from None
    except TypeError as exc:  # e.g. a name attribute of a string type its OID does not allow
        raise ValueError(f"a certificate holds a malformed name: {exc}") from None
    unused = asn1_x509.Certificate.load(der)["signature_value"].contents[:1]
    if unused != b"\x00":  # cryptography verifies the bytes and ignores the count
        raise ValueError("a certificate's signature leaves bits unused: not the one its CA made")
    return cert


def _attrs(si: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in si["signed_attrs"]:
        name = attr["type"].native
        values = attr["values"]
        if name in out or len(values) != 1:
            raise Malformed(f"signed attribute {name} must appear once with one value")
        out[name] = values[0]
    return out


def _find_signer(si: Any, certs: list[x509.Certificate]) -> x509.Certificate:
    sid = si["sid"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            # compare the issuer's encoded contents: re-encoding an asn1crypto Name is slow
            if ias["serial_number"].native == cert.serial_number and (
                ias["issuer"].chosen.contents == parser.parse(cert.issuer.public_bytes())[4]
            ):
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.chosen.native:
                return cert
    raise Malformed("the signer's certificate is not in the signature")


def parse_signed(data: bytes) -> SignedDocument:
    """Parse DER or PEM SignedData with exactly one signer."""
    if len(data) > MAX_SIGNED:
        raise Malformed(f"signature file over {MAX_SIGNED} bytes")
    try:
        # PEM only when it starts so: pem.detect looks anywhere, and a DER signature over a
        # document that quotes a PEM header is still DER
        if data.lstrip().startswith(b"-----BEGIN"):
            _, _, data = pem.unarmor(data)
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise Malformed("not a CMS SignedData")
        sd = info["content"]
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "data":
            raise Malformed("signed content is not plain data")
        content = encap["content"].native if encap["content"] else None
        raw_certs = [c.chosen for c in sd["certificates"] or () if c.name == "certificate"]
        certs = [load_certificate(c.dump()) for c in raw_certs]
        if len(sd["signer_infos"]) != 1:
            raise Malformed("exactly one signer expected")
        si = sd["signer_infos"][0]
        if not si["signed_attrs"]:
            raise Malformed("no signed attributes: the signing time is unknown")
        attrs = _attrs(si)
        missing = {"content_type", "message_digest", "signing_time"} - set(attrs)
        if missing:
            raise Malformed(f"signed attributes lack {', '.join(sorted(missing))}")
        if attrs["content_type"].native != "data":
            raise Malformed("the signed contentType is not data")
        digest = _DIGESTS.get(si["digest_algorithm"]["algorithm"].native)
        if digest is None:
            raise Malformed("unsupported digest algorithm (SHA-256/384/512 only)")
        signed_attrs = b"\x31" + si["signed_attrs"].dump()[1:]  # [0] IMPLICIT -> SET OF
        signing_time = attrs["signing_time"].native
        return SignedDocument(
            content=content,
            certificates=tuple(certs),
            signer=_find_signer(si, certs),
            digest=digest,
            signature_algorithm=si["signature_algorithm"].signature_algo,
            signature=si["signature"].native,
            signed_attrs=signed_attrs,
            message_digest=attrs["message_digest"].native,
            signing_time=signing_time.astimezone(dt.UTC),
        )
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        x509.InvalidVersion,
    ) as exc:
        raise Malformed(f"not a valid CMS signature ({type(exc).__name__}: {exc})"[:300]) from None


def check_signature(doc: SignedDocument, content: bytes) -> None:
    """The document is the one signed, and the signer's key signed it."""
    if hashlib.new(doc.digest.name, content).digest() != doc.message_digest:
        raise DocumentMismatch("the signature is over a different document (digest differs)")
    key = doc.signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and doc.signature_algorithm == "rsassa_pkcs1v15":
            key.verify(doc.signature, doc.signed_attrs, padding.PKCS1v15(), doc.digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and doc.signature_algorithm == "ecdsa":
            key.verify(doc.signature, doc.signed_attrs, ec.ECDSA(doc.digest))
        else:
            raise BadSignature(f"unsupported signature algorithm {doc.signature_algorithm}")
    except InvalidSignature:
        raise BadSignature("the signature does not verify: the signed data was altered") from None
