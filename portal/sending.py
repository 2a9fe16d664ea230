"""Applications whose outcome is not known yet: their first send timed out.

A time-out says nothing of the application: the office may have filed it and answered past the
deadline (the hub recorded a time-out), stopped between keeping it and replying, or not have
taken it yet. So the portal neither shows it as failed nor asks the resident to file again (a
new application: filed twice, should the first be filed): it shows it as 確認中 (``pending``)
and sends the same signed document again in the background (``OfficeNode.file``: a new query
id and deadline each time, with back-off) until the office's receipt or refusal, or the sends
run out; then the outcome replaces the 確認中 status (``Settle``). The office answers a copy of
an application it filed with the receipt it kept, so the resident gets the receipt of an
application filed on a send that timed out.

The signed document is kept in the portal's own store (collection ``sending``, under the
status's id) until then, so a portal that restarts takes the sending up again (``resume``);
once settled, it is deleted. If no send was ever answered (応答なし: the office down for the
whole round), it is kept, marked given up, and the resident may send it again (``again``: the
same document, under the same status id, a new round of sends; the office files it once).

A step that fails — the store's (a session cut, PostgreSQL restarting), the bus's — is logged
and tried again, ``retry`` seconds later and doubling up to ``retry_max``, until it is done: an
application is never left 確認中 until the portal starts again. An answer once had is kept
while its outcome is written: a failure to write it does not send the document again.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from hub.log import get_logger
from hub.node import Answer, OfficeNode, OfficeStore
from hub.node.backoff import Backoff, until_done
from hub.node.runtime import RESEND
from portal.model import ApplicationStatus

__all__ = ["SENDING", "Sending", "Settle"]

log = get_logger("portal.sending")
SENDING = "sending"  # the portal's store: applications sent again, by their status's id
# the outcome of an application sent again: (person, its 確認中 status, the last answer) → the
# status that replaces it
Settle = Callable[[str, ApplicationStatus, Answer], Awaitable[ApplicationStatus]]
T = TypeVar("T")


class Sending:
    def __init__(
        self,
        node: OfficeNode,
        store: OfficeStore,
        settle: Settle,
        resend: Backoff = RESEND,
        *,
        retry: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self.node = node
        self.store = store
        self.settle = settle
        self.resend = resend  # each round's pauses and sends (``OfficeNode.file``)
        self.retry, self.retry_max = retry, retry_max  # a failed step tried again (module)
        self._tasks: dict[str, asyncio.Task[ApplicationStatus | None]] = {}

    async def begin(
        self, person: str, status: ApplicationStatus, first: Answer, signed: bytes
    ) -> None:
        """Keep the document of a first send that timed out (``first``), and send it again."""
        doc = {
            "person": person,
            "kind": status.kind,
            "office": status.office,
            "at": status.at.isoformat(),
            "sent": [str(first.query_id)],
            "signed": base64.b64encode(signed).decode(),
        }
        key = str(status.application_id)
        await self.store.put_many(SENDING, [(key, None, doc)])
        self._spawn(key)

    async def resume(self) -> None:
        """Take up again what a portal that stopped was still sending (not what it gave up)."""
        for key in await self.store.keys(SENDING):
            doc = await self.store.get(SENDING, key)
            if doc is not None and not doc.get("gave_up"):
                self._spawn(key)

    async def given_up(self, person: str, status_id: uuid.UUID) -> bool:
        """Whether ``person``'s application ``status_id`` was sent and never answered, its
        document kept for the resident to send again (another resident's: False)."""
        doc = await self.store.get(SENDING, str(status_id))
        return doc is not None and doc.get("gave_up") is True and doc.get("person") == person

    async def again(self, person: str, status_id: uuid.UUID) -> bool:
        """Send a given-up application again at its resident's asking: a new round of sends,
        the earlier ones still counted as unanswered (``OfficeNode.file``'s ``before``)."""
        key = str(status_id)
        doc = await self.store.get(SENDING, key)
        if doc is None or doc.get("gave_up") is not True or doc.get("person") != person:
            return False
        doc = {**doc, "gave_up": False}
        await self.store.put_many(SENDING, [(key, None, doc)])
        self._spawn(key)
        return True

    async def settled(self, status_id: uuid.UUID) -> ApplicationStatus | None:
        """Wait for an application being sent again: its outcome (None: not being sent)."""
        task = self._tasks.get(str(status_id))
        return None if task is None else await asyncio.shield(task)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, key: str) -> None:
        if key not in self._tasks:
            task = asyncio.create_task(self._send(key), name=f"application {key}")
            self._tasks[key] = task
            task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def _send(self, key: str) -> ApplicationStatus | None:
        doc = await self._until_done(key, lambda: self.store.get(SENDING, key))
        if doc is None:
            return None
        person, kind, office = str(doc["person"]), doc["kind"], str(doc["office"])
        at = dt.datetime.fromisoformat(doc["at"])
        pending = ApplicationStatus(uuid.UUID(key), kind, at, office, "pending", "")
        sent = tuple(uuid.UUID(q) for q in doc["sent"])
        before = tuple(uuid.UUID(q) for q in doc.get("before", ()))
        signed = base64.b64decode(doc["signed"])
        answer = await self._until_done(
            key,
            lambda: self.node.file(
                office, kind, person, signed, sent=sent, before=before, resend=self.resend
            ),
        )
        status = await self._until_done(key, lambda: self._keep(key, doc, pending, answer))
        sends = len(answer.earlier) + 1
        log.info("application.settled", status_id=key, status=status.status, sends=sends)
        return status

    async def _keep(
        self, key: str, doc: Mapping[str, Any], pending: ApplicationStatus, answer: Answer
    ) -> ApplicationStatus:
        """The outcome in place of 確認中, and the document dropped (or kept, given up)."""
        status = await self.settle(str(doc["person"]), pending, answer)
        if status.status == "unavailable":  # never answered: kept for the resident's resend
            every = [str(q) for q in (*answer.earlier, answer.query_id)]
            given_up = {**doc, "sent": [], "before": every, "gave_up": True}
            await self.store.put_many(SENDING, [(key, None, given_up)])
        else:
            await self.store.delete(SENDING, key)
        return status

    async def _until_done(self, key: str, step: Callable[[], Awaitable[T]]) -> T:
        """``step``, tried again after each failure (logged) until it is done; cancelled when
        the portal stops (taken up again when it starts: ``resume``)."""

        def failed(exc: Exception, pause: float) -> None:
            log.warning(
                "application.sending_failed", status_id=key, error=repr(exc), retry_in=pause
            )

        return await until_done(step, failed, Backoff(first=self.retry, most=self.retry_max))
