"""Certificate revocation lists (RFC 5280 §5), built and checked. Pure.

Each entry carries its reason code and, when the change took effect before the CA processed
it (a move on the 1st, revoked on the 3rd), an invalidityDate. The CRL number rises
monotonically: the caller passes it (the service uses milliseconds since the epoch, bumped past
the previous number, so it keeps rising across restarts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pki.ca.ledger import RevocationRecord
from pki.exceptions import Malformed, RevocationUnknown
from pki.profiles import Issuer

__all__ = ["CheckedCrl", "RevocationStatus", "build_crl", "check_crl", "checked_crl", "load_crl"]

_SKEW = dt.timedelta(minutes=5)


def build_crl(
    ca: Issuer,
    revoked: Iterable[RevocationRecord],
    *,
    this_update: dt.datetime,
    next_update: dt.datetime,
    number: int,
) -> x509.CertificateRevocationList:
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for r in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(r.serial)
            .revocation_date(r.revoked_at)
            .add_extension(x509.CRLReason(r.reason), critical=False)
        )
        if r.invalid_since is not None:
            entry = entry.add_extension(x509.InvalidityDate(r.invalid_since), critical=False)
        b = b.add_revoked_certificate(entry.build())
    return b.sign(ca.key, hashes.SHA256())


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in DER or PEM."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise Malformed(f"not a CRL: {exc}") from None


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """A serial's status from a CRL or OCSP: ``revoked_at`` None means not revoked.
    ``valid_until``: the source's nextUpdate, how long it vouches for the answer."""

    revoked_at: dt.datetime | None
    reason: x509.ReasonFlags | None = None
    invalid_since: dt.datetime | None = None
    valid_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckedCrl:
    """A CRL whose issuer and signature checked out, every entry read once: a look-up by
    serial is a dict access however long the CRL (a relying party keeps one until its
    nextUpdate)."""

    this_update: dt.datetime
    next_update: dt.datetime
    entries: Mapping[int, RevocationStatus]

    def status(self, serial: int, now: dt.datetime) -> RevocationStatus:
        """The serial's status; :class:`RevocationUnknown` when the CRL is not current."""
        if self.next_update < now:
            raise RevocationUnknown("the CRL is out of date (nextUpdate has passed)")
        if self.this_update > now + _SKEW:
            raise RevocationUnknown("the CRL is from the future")
        return self.entries.get(serial) or RevocationStatus(None, valid_until=self.next_update)


def checked_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> CheckedCrl:
    """The CRL, which must be the issuer's and correctly signed, read once."""
    try:
        return _checked(crl, issuer)
    except ValueError as exc:  # a CRL's entries parse lazily
        raise RevocationUnknown(f"the CRL does not parse: {exc}"[:200]) from None


def check_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    serial: int,
    now: dt.datetime,
) -> RevocationStatus:
    """The serial's status in a CRL that must be the issuer's, correctly signed and current."""
    return checked_crl(crl, issuer).status(serial, now)


def _checked(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> CheckedCrl:
    if crl.issuer != issuer.subject:
        raise RevocationUnknown("the CRL is not the issuing CA's")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise RevocationUnknown("the CRL's signature does not verify")
    nxt = crl.next_update_utc
    if nxt is None:
        raise RevocationUnknown("the CRL has no nextUpdate")
    entries: dict[int, RevocationStatus] = {}
    for entry in crl:
        reason: x509.ReasonFlags | None = None
        since: dt.datetime | None = None
        for ext in entry.extensions:
            if isinstance(ext.value, x509.CRLReason):
                reason = ext.value.reason
            elif isinstance(ext.value, x509.InvalidityDate):
                since = ext.value.invalidity_date_utc
        entries[entry.serial_number] = RevocationStatus(
            entry.revocation_date_utc, reason, since, valid_until=nxt
        )
    return CheckedCrl(crl.last_update_utc, nxt, entries)
