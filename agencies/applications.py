"""Electronic applications (e-Tax returns, the moving one-stop, child-allowance claims).

An office that takes applications accepts one only if its signature checks out (the
``SignatureCheck`` the composition root supplies: CMS, JPKI chain, validity and revocation at
signing time), the signed document is an application of the kind asked for, it has not been
filed before, and — where the office keeps a resident register — the signer is the resident
the application is about. The receipt is kept in the office's own store under its own token.
One application at a time per office (an office runs as one process), so a redelivered one
never acts twice: the same application again (its id, its signed document, its person — the
broker's redelivery after the office stopped between keeping it and replying, or the portal
filing it again) is answered with the receipt kept for it, as the first copy was; another
document under a filed application's id is refused (``application.duplicate``). What the
office does with an application (``then``) is given its id, so that done again after a stop
it acts once (a move out is filed under an event id drawn from it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from agencies.exceptions import (
    APPLICATION_DUPLICATE,
    APPLICATION_NOT_AN_APPLICATION,
    APPLICATION_NOT_OUR_RESIDENT,
    APPLICATION_SIGNER_MISMATCH,
    office_code,
)
from hub.identity import same_name
from hub.log import get_logger
from hub.node import ApplicationRefused, OfficeStore

__all__ = [
    "COLLECTION",
    "After",
    "SignatureCheck",
    "SignedApplications",
    "Signer",
    "Then",
    "same_name",
    "signed_by",
]

COLLECTION = "applications"
log = get_logger("agencies.applications")


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed, from the signature certificate, and what they signed."""

    name: str
    birth_date: str  # ISO date
    content: bytes
    signing_time: dt.datetime


class SignatureCheck(Protocol):
    async def check(self, signed: bytes) -> Signer:
        """Raise ``ApplicationRefused`` (``….signature_invalid``) with the precise reason."""
        ...

    def content(self, signed: bytes) -> bytes | None:
        """What the signed document says, its signature not checked (None: unreadable) — to
        find an application filed already before checking its signature again."""
        ...


# what the office does with an accepted application (application id, person, kind, form; e.g.
# a move out becomes a change event); raising refuses it, and nothing is kept. It may run again
# for the same application id (the office stopped before the receipt was kept): it acts once
Then = Callable[[str, str, str, Mapping[str, Any]], Awaitable[None]]
# what the office does once the receipt is kept (application id, person, form, who signed):
# e.g. a child-allowance claim is opened and processed (``municipality/child_claims.py``)
After = Callable[[str, str, Mapping[str, Any], Signer], Awaitable[None]]


class SignedApplications:
    def __init__(
        self,
        office: str,
        store: OfficeStore,
        check: SignatureCheck,
        then: Then | None = None,
        *,
        register: bool = False,
        after: After | None = None,
    ) -> None:
        self.office = office
        self.store = store
        self.check = check
        self.then = then
        self.register = register  # it keeps residents: an application must be one of theirs
        self.after = after
        self._one_at_a_time = asyncio.Lock()  # the duplicate check, ``then`` and the receipt

    async def receive(self, person: str, kind: str, document: bytes) -> Mapping[str, Any]:
        digest = hashlib.sha256(document).hexdigest()
        async with self._one_at_a_time:
            # the very document accepted already (checked then): its receipt, unchecked now —
            # its certificate may have been revoked since, by the move out it filed
            receipt = await self._filed(person, kind, document, digest)
        if receipt is not None:
            return receipt
        signer = await self.check.check(document)
        application = _application(signer.content, kind, self.office)
        async with self._one_at_a_time:  # a redelivered application must not act twice
            return await self._accept(person, kind, signer, application, digest)

    async def _filed(
        self, person: str, kind: str, document: bytes, digest: str
    ) -> Mapping[str, Any] | None:
        content = self.check.content(document)
        try:
            application = None if content is None else _application(content, kind, self.office)
        except ApplicationRefused:  # refused below, after its signature
            return None
        if application is None:
            return None
        app_id = str(application["application_id"])
        kept = await self.store.get(COLLECTION, app_id)
        if kept is None or kept.get("digest") != digest:
            return None
        return self._again(app_id, kept, person, kind, digest)

    async def _accept(
        self, person: str, kind: str, signer: Signer, application: dict[str, Any], digest: str
    ) -> Mapping[str, Any]:
        app_id = str(application["application_id"])
        kept = await self.store.get(COLLECTION, app_id)
        if kept is not None:
            return self._again(app_id, kept, person, kind, digest)
        await self._check_holder(person, signer)
        form = application.get("form", {})
        if not isinstance(form, dict):
            raise ApplicationRefused(
                office_code(self.office, APPLICATION_NOT_AN_APPLICATION),
                "the application has no form",
            )
        if self.then is not None:
            await self.then(app_id, person, kind, form)
        receipt = {
            "receipt": f"{self.office}-{uuid.uuid5(uuid.NAMESPACE_URL, app_id).hex[:12]}",
            "office": self.office,
            "kind": kind,
            "application_id": app_id,
            "signer": signer.name,
            "signed_at": signer.signing_time.isoformat(),
            "accepted_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        # who filed, kept with the receipt: what ``after`` is given, should it run again
        # (an office that stopped between the receipt and ``after``: ``filed_unopened``)
        filer = {"person": person, "name": signer.name, "birth_date": signer.birth_date}
        doc = {"kind": kind, "form": form, "receipt": receipt, "filer": filer, "digest": digest}
        await self.store.put_many(COLLECTION, [(app_id, None, doc)])
        if self.after is not None:
            await self.after(app_id, person, form, signer)
        return receipt

    def _again(
        self, app_id: str, kept: Mapping[str, Any], person: str, kind: str, digest: str
    ) -> Mapping[str, Any]:
        """The same application filed again (its id, signed document — byte for byte — and
        person): the receipt kept for it, as the first copy was answered; anything else under
        its id is refused."""
        filer = kept.get("filer")
        same = (
            kept.get("digest") == digest
            and kept.get("kind") == kind
            and isinstance(filer, Mapping)
            and filer.get("person") == person
        )
        receipt = kept.get("receipt")
        if not same or not isinstance(receipt, Mapping):
            raise ApplicationRefused(
                office_code(self.office, APPLICATION_DUPLICATE),
                f"application {app_id} was filed already, with another document",
            )
        log.info("application.again", office=self.office, application_id=app_id)
        return receipt

    async def _check_holder(self, person: str, signer: Signer) -> None:
        """A register knows its resident: the signer must be them (name and birth date)."""
        found = await self.store.by_token("residents", person)
        if found is None:
            if self.register:
                raise ApplicationRefused(
                    office_code(self.office, APPLICATION_NOT_OUR_RESIDENT),
                    f"{self.office} keeps no record of this resident",
                )
            return
        if not signed_by(found[1], signer.name, signer.birth_date):
            raise ApplicationRefused(
                office_code(self.office, APPLICATION_SIGNER_MISMATCH),
                "the application is signed by someone other than the resident it is for",
            )


def signed_by(resident: Mapping[str, Any], name: str, birth_date: str) -> bool:
    """Whether a record (the register's) is of the signer: the name as a name, the birth date."""
    kept = resident.get("name")
    return (
        isinstance(kept, str) and same_name(kept, name) and resident.get("birth_date") == birth_date
    )


def _application(content: bytes, kind: str, office: str) -> dict[str, Any]:
    try:
        application = orjson.loads(content)
    except orjson.JSONDecodeError:
        application = None
    if not isinstance(application, dict) or application.get("kind") != kind:
        raise ApplicationRefused(
            office_code(office, APPLICATION_NOT_AN_APPLICATION),
            f"the signed document is no {kind} application",
        )
    try:
        uuid.UUID(str(application.get("application_id")))
    except ValueError:
        raise ApplicationRefused(
            office_code(office, APPLICATION_NOT_AN_APPLICATION), "the application has no valid id"
        ) from None
    return application
