"""The municipality's 公印 for PDF certificates: a signing key and certificate of its own.

The real municipality signs with an organisation certificate of LGPKI (組織認証基盤), whose
authority is not J-LIS's JPKI (that one certifies residents). This is a model of it: an
authority of the network operator (``SealAuthority``, its root kept under ``<state_dir>/lgpki``)
certifies one ECDSA P-256 key per municipal office that prints certificates (``Seal``, kept
under ``<state_dir>/<office>/seal.*.pem``: the office's own secret, like its other keys).
``renkei certificates verify`` trusts the root. Made on first use (``ensure``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["SEAL_CERT", "SEAL_KEY", "Seal", "SealAuthority", "ensure", "load_root"]

ROOT_DIR = "lgpki"
ROOT_KEY, ROOT_CERT = "root.key.pem", "root.pem"
SEAL_KEY, SEAL_CERT = "seal.key.pem", "seal.pem"
ROOT_YEARS, SEAL_YEARS = 20, 5


@dataclass(frozen=True, slots=True)
class Seal:
    """A municipal office's signing key, its certificate and the chain up to the root."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def name(self) -> str:
        names = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""


@dataclass(frozen=True, slots=True)
class SealAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, now: dt.datetime | None = None) -> SealAuthority:
        now = now or dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LGPKI (model)"),
                x509.NameAttribute(NameOID.COMMON_NAME, "組織認証基盤 ルート認証局 (renkei model)"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, office_name: str, now: dt.datetime | None = None) -> Seal:
        """A seal for the office named (its certificate's CN: the name printed as issuer)."""
        now = now or dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LGPKI (model)"),
                x509.NameAttribute(NameOID.COMMON_NAME, office_name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365 * SEAL_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Seal(key, cert, (self.cert,))


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as `renkei init` makes them
    path.write_bytes(data)
    if secret:
        path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path}: not an EC key")
    return key


def load_root(state_dir: Path) -> x509.Certificate:
    """The root ``renkei certificates verify`` trusts by default."""
    return x509.load_pem_x509_certificate((state_dir / ROOT_DIR / ROOT_CERT).read_bytes())


def ensure(state_dir: Path, office: str, office_name: str) -> Seal:
    """The office's seal from its folder, made (with the root, when missing) on first use."""
    root_dir, own = state_dir / ROOT_DIR, state_dir / office
    if (own / SEAL_KEY).exists():
        return Seal(
            _load_key(own / SEAL_KEY),
            x509.load_pem_x509_certificate((own / SEAL_CERT).read_bytes()),
            (load_root(state_dir),),
        )
    if (root_dir / ROOT_KEY).exists():
        authority = SealAuthority(_load_key(root_dir / ROOT_KEY), load_root(state_dir))
    else:
        authority = SealAuthority.generate()
        _write(root_dir / ROOT_KEY, _pem_key(authority.key), secret=True)
        _write(root_dir / ROOT_CERT, authority.cert.public_bytes(serialization.Encoding.PEM))
    seal = authority.issue(office_name)
    _write(own / SEAL_KEY, _pem_key(seal.key), secret=True)
    _write(own / SEAL_CERT, seal.cert.public_bytes(serialization.Encoding.PEM))
    return seal
