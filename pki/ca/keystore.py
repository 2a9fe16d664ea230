"""The CA's state directory (``<state_dir>/pki``): keys encrypted at rest, certificates, secrets.

Layout, made on first start::

    password              key-encryption password (mode 0600)
    operator-token        bearer token of the card desk and operators (mode 0600)
    holder-key            HMAC key for holder digests in the ledger (mode 0600)
    keys/<name>.key.pem   PKCS#8 private keys, encrypted with the password (mode 0600):
                          root, signature, authentication, ocsp-signature, ocsp-authentication
    certs/<name>.pem      the matching certificates; chain.pem = root + both issuing CAs
    ledger.sqlite3        issued serials and revocations (see pki.ca.ledger; an earlier
                          version's ledger.jsonl is imported, then ledger.jsonl.imported)
    verifiers.json        the verifier registry (see pki.ca.verifiers)

A secret file readable by group or others is refused. The password beside the keys protects a
copied key file, not a copied directory: point ``password`` at a secret store in production.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki.ca.hierarchy import ISSUING, Hierarchy
from pki.exceptions import StateError
from pki.profiles import CaName, Issuer

__all__ = ["StateFiles", "open_state", "read_secret", "write_private"]


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp") if replace else path
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if replace:
        tmp.replace(path)


def read_secret(path: Path) -> bytes:
    try:
        if path.stat().st_mode & 0o077:
            raise StateError(f"{path} is readable by others; chmod 600 it")
        return path.read_bytes()
    except FileNotFoundError:
        raise StateError(f"{path} is missing") from None


def _secret(path: Path) -> bytes:
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32).encode())
    return read_secret(path).strip()


@dataclass(frozen=True, slots=True)
class StateFiles:
    root: Path
    hierarchy: Hierarchy
    operator_token: str
    holder_key: bytes

    def __repr__(self) -> str:
        return f"StateFiles({self.root})"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite3"

    @property
    def journal_path(self) -> Path:
        """The ledger of an earlier version, imported into ``ledger_path`` on open."""
        return self.root / "ledger.jsonl"

    @property
    def verifiers_path(self) -> Path:
        return self.root / "verifiers.json"


def _names(h: Hierarchy) -> dict[str, Issuer]:
    named = {CaName.ROOT.value: h.root} | {n.value: h.cas[n] for n in ISSUING}
    return named | {f"ocsp-{n.value}": h.responders[n] for n in ISSUING}


def _save(root: Path, h: Hierarchy, password: bytes, *, only: set[str] | None = None) -> None:
    enc = serialization.BestAvailableEncryption(password)
    for name, issuer in _names(h).items():
        if only is not None and name not in only:
            continue
        pem = issuer.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )
        write_private(root / f"keys/{name}.key.pem", pem, replace=True)
        cert = issuer.cert.public_bytes(serialization.Encoding.PEM)
        (root / "certs").mkdir(parents=True, exist_ok=True)
        (root / f"certs/{name}.pem").write_bytes(cert)
    (root / "certs/chain.pem").write_bytes(h.chain_pem())


def _load_issuer(root: Path, name: str, password: bytes) -> Issuer:
    pem = read_secret(root / f"keys/{name}.key.pem")
    try:
        key = serialization.load_pem_private_key(pem, password)
        cert = x509.load_pem_x509_certificate((root / f"certs/{name}.pem").read_bytes())
    except FileNotFoundError:
        raise StateError(f"{root}/certs/{name}.pem is missing") from None
    except ValueError as exc:
        raise StateError(f"{name} key will not load (wrong password file?): {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise StateError(f"{name} key is not a signing key")
    if key.public_key() != cert.public_key():
        raise StateError(f"{name} key does not match its certificate")
    return Issuer(key, cert)


def open_state(root: Path, now: dt.datetime | None = None) -> StateFiles:
    """Load the CA's state, creating keys, certificates and secrets on first start."""
    now = now or dt.datetime.now(dt.UTC)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = _secret(root / "password")
    keys = root / "keys"
    if not keys.exists():
        hierarchy = Hierarchy.generate(now)
        _save(root, hierarchy, password)
    else:
        names = _names_on_disk(root)
        loaded = {n: _load_issuer(root, n, password) for n in names}
        hierarchy = Hierarchy(
            root=loaded["root"],
            cas={n: loaded[n.value] for n in ISSUING},
            responders={n: loaded[f"ocsp-{n.value}"] for n in ISSUING},
        )
        renewed = hierarchy.renew_responders(now)
        if renewed is not hierarchy:
            _save(root, renewed, password, only={f"ocsp-{n.value}" for n in ISSUING})
            hierarchy = renewed
    return StateFiles(
        root=root,
        hierarchy=hierarchy,
        operator_token=_secret(root / "operator-token").decode(),
        holder_key=_secret(root / "holder-key"),
    )


def _names_on_disk(root: Path) -> list[str]:
    wanted = [CaName.ROOT.value, *(n.value for n in ISSUING), *(f"ocsp-{n.value}" for n in ISSUING)]
    missing = [n for n in wanted if not (root / f"keys/{n}.key.pem").exists()]
    if missing:
        raise StateError(
            f"{root} is incomplete (no key for {', '.join(missing)}); restore it or move it aside"
        )
    return wanted
