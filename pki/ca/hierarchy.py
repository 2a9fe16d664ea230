"""The CA hierarchy in memory: a root, two issuing CAs and their OCSP responders.

The CAs' keys are RSA-2048 as in JPKI. The delegated OCSP responders sign with ECDSA P-256:
a response is signed per request (the nonce makes each one unique), and P-256 signs about
twenty times faster than RSA-2048 while every OCSP client in use accepts it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki.exceptions import UnknownCa
from pki.profiles import CaName, Issuer, ca_certificate, responder_certificate

__all__ = ["ISSUING", "RESPONDER_DAYS", "Hierarchy", "parse_ca"]

ROOT_YEARS, ISSUING_YEARS = 20, 12
RESPONDER_DAYS, RESPONDER_RENEW_DAYS = 365, 30
ISSUING = (CaName.SIGNATURE, CaName.AUTHENTICATION)


def parse_ca(name: str) -> CaName:
    try:
        return CaName(name)
    except ValueError:
        known = ", ".join(c.value for c in CaName)
        raise UnknownCa(f"no CA named {name[:40]!r}; known: {known}") from None


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _years(start: dt.datetime, years: int) -> dt.datetime:
    return start.replace(year=start.year + years, day=min(start.day, 28))


@dataclass(frozen=True, slots=True)
class Hierarchy:
    root: Issuer
    cas: dict[CaName, Issuer]  # the two issuing CAs
    responders: dict[CaName, Issuer]  # one delegated OCSP responder per issuing CA

    @classmethod
    def generate(cls, now: dt.datetime) -> Hierarchy:
        start = now.astimezone(dt.UTC).replace(microsecond=0)
        root_key = _rsa()
        root_cert = ca_certificate(
            CaName.ROOT,
            root_key.public_key(),
            None,
            serial=x509.random_serial_number(),
            not_before=start,
            not_after=_years(start, ROOT_YEARS),
            signer_key=root_key,
        )
        root = Issuer(root_key, root_cert)
        cas: dict[CaName, Issuer] = {}
        for name in ISSUING:
            key = _rsa()
            cert = ca_certificate(
                name,
                key.public_key(),
                root,
                serial=x509.random_serial_number(),
                not_before=start,
                not_after=_years(start, ISSUING_YEARS),
            )
            cas[name] = Issuer(key, cert)
        responders = {name: _responder(cas[name], start) for name in ISSUING}
        return cls(root, cas, responders)

    def issuer(self, name: CaName) -> Issuer:
        return self.root if name is CaName.ROOT else self.cas[name]

    def renew_responders(self, now: dt.datetime) -> Hierarchy:
        """A new responder key and certificate where the current one is near its end."""
        limit = now + dt.timedelta(days=RESPONDER_RENEW_DAYS)
        fresh = {
            n: _responder(self.cas[n], now) if r.cert.not_valid_after_utc < limit else r
            for n, r in self.responders.items()
        }
        return self if fresh == self.responders else replace(self, responders=fresh)

    def chain_pem(self) -> bytes:
        certs = [self.root.cert, *(self.cas[n].cert for n in ISSUING)]
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _responder(ca: Issuer, now: dt.datetime) -> Issuer:
    start = now.astimezone(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = responder_certificate(
        ca,
        key.public_key(),
        serial=x509.random_serial_number(),
        not_before=start,
        not_after=start + dt.timedelta(days=RESPONDER_DAYS),
    )
    return Issuer(key, cert)
