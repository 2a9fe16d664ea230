"""A resident revokes one of their own certificates by signing the request with its key.

The body is a CMS SignedData (attached) whose content is JSON
``{"ca": "signature"|"authentication", "serial": "<hex>", "reason": "...", "at": "<ISO time>"}``
signed with the very certificate to revoke: possession of the card and its PIN is the proof.
The request must be fresh (``at`` and signingTime within five minutes of the CA's clock); a
replay inside that window is harmless because revocation is idempotent. A resident who lost
the card asks the desk or the call centre, which use ``POST /revocations`` for them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pki.ca.api import parse_body, parse_serial
from pki.ca.authority import CertificationAuthority
from pki.ca.ledger import RevocationRecord
from pki.ca.revocation import RequestReason
from pki.cms import check_signature, parse_signed
from pki.exceptions import Expired, Malformed, PolicyRefused, WrongCa
from pki.profiles import CaName

__all__ = ["FRESH", "SelfRevokeIn", "revoke_by_signature"]

FRESH = dt.timedelta(minutes=5)


class SelfRevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ca: Literal["signature", "authentication"]
    serial: Annotated[str, Field(max_length=64)]
    reason: RequestReason
    at: AwareDatetime


def revoke_by_signature(ca: CertificationAuthority, body: bytes) -> RevocationRecord:
    doc = parse_signed(body)
    if doc.content is None:
        raise Malformed("attach the revocation request to its signature")
    check_signature(doc, doc.content)
    req = parse_body(SelfRevokeIn, doc.content)
    ca_name = CaName(req.ca)
    try:
        doc.signer.verify_directly_issued_by(ca.hierarchy.cas[ca_name].cert)
    except (InvalidSignature, ValueError, TypeError):
        raise WrongCa(f"the signing certificate was not issued by the {req.ca} CA") from None
    serial = parse_serial(req.serial)
    if doc.signer.serial_number != serial:
        raise PolicyRefused("only the certificate that signs the request can be revoked by it")
    now = ca.now()
    if abs(now - req.at) > FRESH or abs(now - doc.signing_time) > FRESH:
        raise PolicyRefused("the request is not fresh: sign it again")
    if doc.signer.not_valid_after_utc < now:
        raise Expired("the certificate has already expired")
    return ca.revoke(ca_name, serial, req.reason.crl_reason)
