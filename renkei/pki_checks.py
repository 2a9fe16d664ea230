"""The PKI checks other services rely on: the glue between ``pki`` and its users.

The services stay independent (no service imports another), so the composition root joins
them: ``PkiLoginCheck`` is the portal's ``CertificateChecker`` (logins: chain, policy,
validity, OCSP/CRL now), ``PkiSignatureCheck`` an office's ``SignatureCheck`` (applications:
CMS, chain, revocation at signing time), ``cms_signer`` the portal office's ``SignerOf`` (who
signed an application, for J-LIS to name). Both checks take the process's
``RevocationChecker`` (one HTTP session, CRLs and OCSP answers kept; see
``pki.relying.client``); without one, each check opens and closes its own. ``local_ca`` is
the CA a process runs for itself (``renkei demo --portal``, the season replay);
``signatures_on_disk`` the check an office of a deployment takes applications with, from the
CA's chain in the state directory (``renkei run office``, the replay's offices).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from agencies.applications import Signer
from agencies.exceptions import APPLICATION_SIGNATURE_INVALID, office_code
from hub.node import ApplicationRefused
from issuance.exceptions import ISSUANCE_CARD_REFUSED, IssuanceRefused
from pki import (
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    PkiError,
    RevocationChecker,
    RevocationSource,
    Trust,
    VerifierKind,
    parse_signed,
    verify_login,
    verify_signed,
)
from pki.relying.verify import load_pem_bundle
from portal.exceptions import LoginRefused, UnreadableSignature
from portal.model import CheckedCertificate
from renkei.exceptions import RENKEI_NO_CA, CommandError

__all__ = [
    "LocalCa",
    "PkiCardCheck",
    "PkiLoginCheck",
    "PkiSignatureCheck",
    "cms_signer",
    "local_ca",
    "signatures_on_disk",
]

CHAIN = Path("pki/certs/chain.pem")  # the CA's public chain, under the state directory


class PkiLoginCheck:
    """The portal's ``CertificateChecker``: JPKI chain, policy, validity, revocation now."""

    def __init__(
        self, trust: Trust, source: RevocationSource, checker: RevocationChecker | None = None
    ) -> None:
        self.trust, self.source, self.checker = trust, source, checker

    async def check(self, der: bytes, at: dt.datetime) -> CheckedCertificate:
        try:
            cert = await verify_login(der, self.trust, self.source, now=at, checker=self.checker)
        except PkiError as exc:
            raise LoginRefused(str(exc)) from None
        return CheckedCertificate(der, cert.serial_number, cert.not_valid_after_utc)


class PkiCardCheck:
    """The issuance centre's ``CardCheck``: the kiosk's card, as a login (OCSP now)."""

    def __init__(self, login: PkiLoginCheck) -> None:
        self.login = login

    async def check(self, der: bytes, at: dt.datetime) -> None:
        try:
            await self.login.check(der, at)
        except LoginRefused as exc:
            raise IssuanceRefused(
                ISSUANCE_CARD_REFUSED,
                f"この利用者証明用電子証明書は利用できません（失効・期限切れ等）: {exc}",
            ) from None


class PkiSignatureCheck:
    """An office's ``SignatureCheck``: CMS signature, JPKI chain, revocation at signing time.
    Made once per deployment; ``for_office`` gives each office its own (for its refusal codes)."""

    def __init__(
        self,
        trust: Trust,
        source: RevocationSource,
        office: str = "office",
        checker: RevocationChecker | None = None,
    ) -> None:
        self.office = office
        self.trust, self.source, self.checker = trust, source, checker

    def for_office(self, office: str) -> PkiSignatureCheck:
        return PkiSignatureCheck(self.trust, self.source, office, self.checker)

    async def check(self, signed: bytes) -> Signer:
        try:
            verified = await verify_signed(
                signed, None, self.trust, self.source, checker=self.checker
            )
            content = parse_signed(signed).content or b""
        except PkiError as exc:
            code = office_code(self.office, APPLICATION_SIGNATURE_INVALID)
            raise ApplicationRefused(code, str(exc)) from None
        facts = verified.facts
        return Signer(facts.name, facts.birth_date.isoformat(), content, verified.signing_time)

    def content(self, signed: bytes) -> bytes | None:
        try:
            return parse_signed(signed).content
        except PkiError:
            return None


def cms_signer(signed: bytes) -> bytes:
    """The certificate (DER) that signed a CMS document; not checked here (the office does)."""
    try:
        return parse_signed(signed).signer.public_bytes(Encoding.DER)
    except PkiError as exc:
        raise UnreadableSignature(str(exc)) from None


@dataclass(frozen=True, slots=True)
class LocalCa:
    ca: CertificationAuthority
    trust: Trust
    ocsp: RevocationSource  # the portal's: OCSP, as a registered verifier


def local_ca(url: str) -> LocalCa:
    """A CA of the process's own, to be served at ``url`` (`renkei demo --portal`, the season
    replay): a fresh hierarchy, its trust, the portal registered as a verifier for OCSP."""
    now = dt.datetime.now(dt.UTC)
    ca = CertificationAuthority(
        Hierarchy.generate(now - dt.timedelta(days=1)),
        holder_key=secrets.token_bytes(32),
        endpoints=Endpoints(url),
    )
    hierarchy = ca.hierarchy
    trust = Trust.from_bundle([hierarchy.root.cert, *(i.cert for i in hierarchy.cas.values())])
    _, api_key = ca.verifiers.register(
        "マイナポータル", VerifierKind.PUBLIC, frozenset({CertKind.AUTHENTICATION}), None, now
    )
    return LocalCa(ca, trust, RevocationSource(ocsp_url=f"{url}/ocsp", api_key=api_key))


def signatures_on_disk(state_dir: Path) -> PkiSignatureCheck | None:
    """The signature check of a deployment's offices: the CA's chain as `renkei run pki`
    wrote it (``<state_dir>/pki/certs/chain.pem``), revocation by the CRLs the certificates
    name; ``None`` when the CA has not run yet (an office then takes no applications)."""
    path = state_dir / CHAIN
    try:
        bundle = path.read_bytes()  # start-up: a small local file
    except FileNotFoundError:
        return None
    try:
        trust = Trust.from_bundle(load_pem_bundle(bundle))
    except PkiError as exc:  # a corrupt chain stops the office, naming the file
        raise CommandError(RENKEI_NO_CA, f"{path}: {exc}") from None
    return PkiSignatureCheck(trust, RevocationSource())
