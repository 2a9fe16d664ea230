"""The certification authority: issue, revoke, publish CRLs, answer OCSP — the Python API.

It holds the hierarchy, the ledger and the verifier registry, keeps each CA's current CRL
(rebuilt on every revocation and by :meth:`refresh_crls`, which the server calls on a
schedule), and wires the pure cores together. The HTTP server (``pki.ca.server``) is a thin layer
over it; tests and the card desk may call it directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from hub.log import get_logger
from pki.ca.crl import build_crl
from pki.ca.hierarchy import Hierarchy
from pki.ca.keystore import open_state
from pki.ca.ledger import CertRecord, Ledger, RequestRecord, RevocationRecord
from pki.ca.ocsp import UNAUTHORIZED, OcspResponder
from pki.ca.revocation import EventKind, ResidentEvent, check_holder, revocations_for
from pki.ca.validity import validity
from pki.ca.verifiers import Verifier, VerifierRegistry
from pki.exceptions import Malformed, NotOnFile, PolicyRefused
from pki.facts import Locality, ResidentFacts
from pki.profiles import CaName, CertKind, Endpoints, end_entity

__all__ = ["CertificationAuthority", "Issued"]

_CODE = re.compile(r"[0-9]{11}")

log = get_logger("pki.ca.authority")
Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ceil_second(t: dt.datetime) -> dt.datetime:
    """CRL times have whole seconds: round nextUpdate up, never down."""
    return t if not t.microsecond else t.replace(microsecond=0) + dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Issued:
    ca: CaName
    serial: int
    subject_id: str  # the opaque CN: random, per certificate
    certificate: x509.Certificate

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def check_public_key(key: CertificatePublicKeyTypes) -> None:
    if isinstance(key, rsa.RSAPublicKey) and 2048 <= key.key_size <= 4096:
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return
    raise PolicyRefused("the public key must be RSA 2048–4096 or ECDSA P-256/P-384")


class CertificationAuthority:
    def __init__(
        self,
        hierarchy: Hierarchy,
        *,
        holder_key: bytes,
        endpoints: Endpoints,
        ledger: Ledger | None = None,
        verifiers: VerifierRegistry | None = None,
        operator_token: str | None = None,
        crl_interval: dt.timedelta = dt.timedelta(hours=1),
        clock: Clock = _now,
    ) -> None:
        self.hierarchy = hierarchy
        self.endpoints = endpoints
        self.ledger = ledger if ledger is not None else Ledger()
        self.verifiers = verifiers if verifiers is not None else VerifierRegistry()
        self.operator_token = operator_token or secrets.token_urlsafe(32)
        self.crl_interval = crl_interval
        self._holder_key = holder_key
        self._clock = clock
        self._crls: dict[CaName, x509.CertificateRevocationList] = {}
        self._crl_number = 0
        self._ocsp = OcspResponder(hierarchy, self.status, crl_interval)
        # told of every certificate issued, with the desk's holder reference (e.g. J-LIS's
        # link from an authentication certificate to the person, for portal logins)
        self.on_issue: list[Callable[[Issued, str], None]] = []
        self.refresh_crls()

    @classmethod
    def open(
        cls, state_dir: Path, endpoints: Endpoints, crl_interval: dt.timedelta | None = None
    ) -> CertificationAuthority:
        """The CA kept in ``state_dir`` (created on first start)."""
        state = open_state(state_dir)
        return cls(
            state.hierarchy,
            holder_key=state.holder_key,
            endpoints=endpoints,
            ledger=Ledger(state.ledger_path, journal=state.journal_path),
            verifiers=VerifierRegistry(state.verifiers_path),
            operator_token=state.operator_token,
            crl_interval=crl_interval or dt.timedelta(hours=1),
        )

    def close(self) -> None:
        self.ledger.close()

    def now(self) -> dt.datetime:
        return self._clock()

    def holder_digest(self, holder: str) -> str:
        return hmac.new(self._holder_key, check_holder(holder).encode(), hashlib.sha256).hexdigest()

    def uncoded(self, holder: str) -> bool:
        """Whether ``holder`` has certificates on file but no 住民票コード: issued before the
        CA kept codes, so J-LIS's notices (by code) do not reach them."""
        digest = self.holder_digest(holder)
        return bool(self.ledger.of_holder(digest)) and not self.ledger.has_code(digest)

    def code_digest(self, code: str) -> str:
        """The digest of a 住民票コード, under the CA's key (never kept in the clear)."""
        if not _CODE.fullmatch(code):
            raise Malformed("a resident-record code is 11 digits")
        return hmac.new(self._holder_key, b"rrc:" + code.encode(), hashlib.sha256).hexdigest()

    def issue(
        self,
        kind: CertKind,
        public_key: CertificatePublicKeyTypes,
        holder: str,
        locality: Locality,
        facts: ResidentFacts | None = None,
        *,
        code: str | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        request: bytes | None = None,
    ) -> Issued:
        """A certificate for a resident's public key. ``facts``: signature certificates only.
        ``code``: the 署名利用者's 住民票コード, as the 市町村長's issuance application gives it
        (J-LIS's 異動等失効情報 names the resident by it: :meth:`apply_notice`). ``request``:
        the request as asked, its fields and key in one canonical form (the ledger keeps an HMAC
        of it): asked again, even after a restart, the certificate issued for it the first time
        is answered, not a second one."""
        code_digest = None if code is None else self.code_digest(code)
        if kind is CertKind.SIGNATURE and facts is None:
            raise PolicyRefused("a signature certificate needs the four facts")
        if kind is CertKind.AUTHENTICATION and facts is not None:
            raise PolicyRefused("an authentication certificate carries no personal data: send none")
        check_public_key(public_key)
        digest = self.holder_digest(holder)
        asked = None if request is None else self._request_digest(request)
        earlier = None if asked is None else self.ledger.requested(asked)
        if earlier is None:
            ca_name = CaName(kind.value)
            start, end = validity(kind, self._clock(), facts.birth_date if facts else None)
            start, end = not_before or start, not_after or end
            end = min(end, self.hierarchy.cas[ca_name].cert.not_valid_after_utc)
            if end <= start:
                raise PolicyRefused("the certificate would never be valid")
            serial, subject_id = x509.random_serial_number(), secrets.token_hex(12).upper()
        else:  # made again from the request and the ledger: the same serial, subject id and
            # validity, so the same bytes (the issuing CAs sign with RSA PKCS#1 v1.5, which is
            # deterministic) and the same link key. The CA keeps no certificate (a signature
            # certificate holds the four facts): the request brings them again.
            rec = self.ledger.get(earlier.ca, earlier.serial)
            assert rec is not None, "a request's certificate is in the ledger (one transaction)"
            ca_name, serial, subject_id = earlier.ca, earlier.serial, earlier.subject_id
            start, end = rec.not_before, rec.not_after
        cert = end_entity(
            self.hierarchy.cas[ca_name],
            ca_name,
            kind,
            public_key,
            locality=locality,
            facts=facts,
            subject_id=subject_id,
            serial=serial,
            not_before=start,
            not_after=end,
            endpoints=self.endpoints,
        )
        if earlier is None:
            if code_digest is not None:
                self.ledger.link_code(code_digest, digest)
            asked_for = None if asked is None else RequestRecord(asked, ca_name, serial, subject_id)
            self.ledger.add(CertRecord(ca_name, serial, digest, start, end), asked_for)
        log.info(
            "certificate issued" if earlier is None else "certificate asked again", ca=ca_name.value
        )
        issued = Issued(ca_name, serial, subject_id, cert)
        for hook in self.on_issue:  # again for a request asked again: a link lost is written
            hook(issued, holder)
        return issued

    def _request_digest(self, request: bytes) -> str:
        return hmac.new(self._holder_key, b"request:" + request, hashlib.sha256).hexdigest()

    def status(self, ca: CaName, serial: int) -> tuple[bool, RevocationRecord | None]:
        return self.ledger.get(ca, serial) is not None, self.ledger.revocation(ca, serial)

    def revoke(
        self,
        ca: CaName,
        serial: int,
        reason: x509.ReasonFlags,
        invalid_since: dt.datetime | None = None,
    ) -> RevocationRecord:
        """Revoke one certificate (idempotent: a second call returns the first revocation)."""
        if self.ledger.get(ca, serial) is None:
            raise NotOnFile(f"the {ca.value} CA issued no such serial")
        now = self._clock().replace(microsecond=0)
        since = invalid_since if invalid_since is not None and invalid_since < now else None
        rec, new = self.ledger.revoke(RevocationRecord(ca, serial, reason, now, since))
        if new:
            log.info("certificate revoked", ca=ca.value, reason=reason.value)
            self._rebuild(ca, now)
        return rec

    def apply_event(self, event: ResidentEvent) -> list[RevocationRecord]:
        """Revoke what a resident-register change calls for; returns the new revocations.

        Only certificates issued before the change are touched: a certificate issued after a
        move (with the new address) survives the move's event arriving late.
        """
        done = self._apply(event, self.holder_digest(event.holder))
        log.info("resident event applied", kind=event.kind.value, revoked=len(done))
        return done

    def apply_notice(
        self, kind: EventKind, code: str, event: str, *, recorded: dt.datetime | None = None
    ) -> list[RevocationRecord] | None:
        """J-LIS's 異動等失効情報 of the resident with 住民票コード ``code``
        (公的個人認証法 第12条): revoke what the change calls for in the certificates
        of every holder issued under that code. The change is as of ``recorded`` (when J-LIS
        recorded it; never later than now, and now when not given): a certificate issued after
        it survives a notice that comes late, and the revocation says it was invalid since then.
        Applied once per ``event`` id: None when applied before."""
        digest = self.code_digest(code)
        if self.ledger.notice_applied(event):
            return None
        now = self._clock()
        at = now if recorded is None else min(recorded, now)
        done: list[RevocationRecord] = []
        for holder in self.ledger.holders_of_code(digest):
            done += self._apply(ResidentEvent(kind, "notice", at), holder)
        self.ledger.mark_notice(event)
        log.info("notice applied", kind=kind.value, revoked=len(done))
        return done

    def _apply(self, event: ResidentEvent, digest: str) -> list[RevocationRecord]:
        done: list[RevocationRecord] = []
        for rule in revocations_for(event):
            ca = CaName(rule.kind.value)
            for rec in self.ledger.of_holder(digest):
                if rec.ca is not ca or rec.not_before > event.at:
                    continue
                if self.ledger.revocation(ca, rec.serial) is None:
                    done.append(self.revoke(ca, rec.serial, rule.reason, event.at))
        return done

    def crl(self, ca: CaName) -> x509.CertificateRevocationList:
        return self._crls[ca]

    def crl_bytes(self, ca: CaName, encoding: serialization.Encoding) -> bytes:
        return self._crls[ca].public_bytes(encoding)

    def refresh_crls(self) -> None:
        now = self._clock().replace(microsecond=0)
        for ca in CaName:
            self._rebuild(ca, now)

    def _rebuild(self, ca: CaName, now: dt.datetime) -> None:
        self._crl_number = max(self._crl_number + 1, int(now.timestamp() * 1000))
        self._crls[ca] = build_crl(
            self.hierarchy.issuer(ca),
            self.ledger.revoked(ca),
            this_update=now,
            next_update=_ceil_second(now + 2 * self.crl_interval),
            number=self._crl_number,
        )

    def ocsp(
        self, request: bytes, *, verifier: Verifier | None, route: CaName | None = None
    ) -> bytes:
        """A DER OCSP response: registered verifiers only, about the CA of their role."""
        parsed = self._ocsp.parse(request)
        if isinstance(parsed, bytes):
            return parsed
        if route is not None and parsed.ca is not route:
            return UNAUTHORIZED
        if verifier is None or CertKind(parsed.ca.value) not in verifier.roles:
            return UNAUTHORIZED
        return self._ocsp.respond(parsed, self._clock())
