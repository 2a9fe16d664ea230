"""児童手当 認定請求: a claim filed in the portal, processed (the seed's 添付書類の省略).

At filing (``Claims.filed``, after the application desk kept the receipt) the office files the
claimant among its applicants and opens the claim 審査中. It then gathers the supporting
information instead of paper attachments: the household from its municipality's register and
the tax figures from its tax office in-house (庁内連携, ``in_house.py``: the claimant found on
the register by who signed), or the tax figures of the municipality of 1 January through the
hub (``ChildAllowance.supporting``: the item the legal table lets 児童手当 ask for, the query
recorded like every access); it decides by the pure rule (``decide_claim``, over
``child_allowance.decide``), keeps the decision with the claim and tells the resident in お知らせ
(``OfficeNode.notify``), in plain Japanese: 認定 with the monthly amount and the month it
starts, or 却下 with the reason.

The claimant on the register must be who signed the claim (name and birth date, as the
application desks compare them): the office does not take the portal's word for it. A tax
office holding no figures for the claimant is an answer, not a failure (since 2024-10 the
amount does not depend on income), and so is a refusal for a reason that will not change (the
legal table, the holding: ``settled``). A query not answered (an office down, a time-out, a
refusal that may pass) decides nothing: the claim stays 審査中 with the reason and is tried
again (``retry`` seconds, doubling up to ``retry_max``), as is a notice that was not delivered.

A claim is decided once and told once: the decision is kept before the notice is sent, and the
notice carries the claim's id (``ref``), by which the portal keeps one notice per office and
claim; while it is 審査中 the resident's 申請 page is told so, and why (``progress_for``, once
per reason, best effort). Claims still open when the office starts are taken up again
(``resume``), and so are claims whose receipt was kept but which were never opened (the office
stopped in between: the receipt names its filer).

Payment starts the month after the claim (児童手当法 第8条第2項, recalled [R]; the 15-day rule
for a birth or a move in is not modelled); the amount is the rule's on the first day of that
month.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from agencies.applications import COLLECTION as RECEIPTS
from agencies.applications import Signer, signed_by
from agencies.exceptions import APPLICATION_NOT_AN_APPLICATION, office_code
from agencies.municipality.child_allowance import AFFAIR, REFORM, ChildAllowance, decide
from agencies.municipality.in_house import Ambiguous
from hub.identity import same_name
from hub.log import get_logger
from hub.node import Answer, ApplicationRefused, OfficeNode, OfficeStore
from hub.wire import Delivered

__all__ = [
    "APPLICANTS",
    "CLAIMS",
    "PENDING",
    "Claims",
    "Verdict",
    "check_form",
    "decide_claim",
    "notice_for",
    "progress_for",
    "settled",
]

log = get_logger(__name__)

CLAIMS, APPLICANTS = "claims", "applicants"
Status = Literal["認定", "却下"]
PENDING: Final = "審査中"
GRANTED: Final = "認定"
REJECTED: Final = "却下"
JST = dt.timezone(dt.timedelta(hours=9))
_FORM = {"child_name": 60, "child_birth_date": 10, "bank_account": 40}  # field → longest
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_AGAIN = frozenset({"error", "timed_out"})  # no answer yet: asked again, with back-off


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    monthly_yen: int
    from_month: dt.date  # the first day of the first month paid
    children: int
    reason: str  # Japanese, for the resident


def check_form(office: str, form: Mapping[str, Any]) -> None:
    """The claim's form as the office takes it: exactly the fields, strings of their length,
    the birth date a real date; else ``ApplicationRefused`` (``<office>.not_an_application``)."""

    def refuse(why: str) -> ApplicationRefused:
        return ApplicationRefused(office_code(office, APPLICATION_NOT_AN_APPLICATION), why)

    if set(form) != set(_FORM):
        raise refuse(f"a child-allowance claim has the fields {sorted(_FORM)}")
    for name, longest in _FORM.items():
        value = form[name]
        if not isinstance(value, str) or not 0 < len(value) <= longest:
            raise refuse(f"{name}: a text of 1 to {longest} characters")
    if not _DATE.match(form["child_birth_date"]):
        raise refuse("child_birth_date: a date as YYYY-MM-DD")
    try:
        dt.date.fromisoformat(form["child_birth_date"])
    except ValueError:
        raise refuse("child_birth_date: not a date") from None


def settled(answer: Answer) -> bool:
    """Pure: whether an answer is one to decide on. A time-out or an error is not (an office
    or the token service unreachable: asked again, with back-off), nor a refusal that may pass
    (a quota's: ``retry_after``); a refusal for a reason that will not change (the legal
    table, not a holder, …) is: asked again it would be refused again, for ever. The tax
    figures do not change the amount since 2024-10, so the claim is decided without them."""
    if answer.status in _AGAIN:
        return False
    return answer.status != "refused" or answer.retry_after is None


def first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def decide_claim(
    record: Mapping[str, Any] | None,
    form: Mapping[str, str],
    filed_on: dt.date,
    signer: Mapping[str, str],
) -> Verdict:
    """Pure: the claim decided on the register's record of the claimant (None: it keeps none),
    the form and who signed it (``name``, ``birth_date``), for the month after ``filed_on``."""
    start = first_of_next_month(filed_on)
    if start < REFORM:
        raise ValueError("claims are decided by the rules in force from 2024-10-01")
    if record is None:
        return Verdict(REJECTED, 0, start, 0, "住民票がこの市区町村にありません。")
    if not signed_by(record, signer["name"], signer["birth_date"]):  # a dishonest filer
        return Verdict(
            REJECTED, 0, start, 0, "請求書に署名した人が、住民票の請求者と一致しません。"
        )
    household = list(record["household"])
    named = [
        m
        for m in household
        if m["relationship"] == "子"
        and m["birth_date"] == form["child_birth_date"]
        and same_name(str(m.get("name", "")), form["child_name"])
    ]
    if not named:
        return Verdict(
            REJECTED,
            0,
            start,
            0,
            f"申請書の児童（{form['child_name']}、{form['child_birth_date']}生まれ）が、"
            "住民票の世帯にいません。別居している児童については窓口にご相談ください。",
        )
    if not _paid(named[0], start):
        return Verdict(
            REJECTED,
            0,
            start,
            0,
            "申請書の児童は支給の対象（18歳になった後の最初の3月31日まで）ではありません。",
        )
    _, monthly, n, _ = decide(household, 0, start)  # no income limit since 2024-10
    return Verdict(GRANTED, monthly, start, n, f"支給の対象となる児童 {n}人")


def _paid(child: Mapping[str, str], on: dt.date) -> bool:
    """Whether the child is of an age paid for on ``on`` (the rule, for that child alone)."""
    return decide([dict(child)], 0, on)[0] == "eligible"


def notice_for(verdict: Verdict, app_id: str) -> dict[str, str]:
    """お知らせ of the decision, in plain Japanese; ``ref``: the claim, one notice per claim."""
    month = f"{verdict.from_month.year}年{verdict.from_month.month}月分"
    if verdict.status == GRANTED:
        title = "児童手当の認定のお知らせ"
        body = (
            f"児童手当の認定請求を認定しました。支給額は月額 {verdict.monthly_yen:,}円で、"
            f"{month}から支給します（{verdict.reason}）。支払いは偶数月に、前月までの2か月分を"
            "お振り込みします。"
        )
    else:
        title = "児童手当の却下のお知らせ"
        body = f"児童手当の認定請求を却下しました。理由：{verdict.reason}"
    body = f"{body}（申請番号 {app_id}）"
    return {"title": title, "body": body, "ref": app_id, "state": verdict.status}


def progress_for(app_id: str, reason: str) -> dict[str, str]:
    """The claim's progress for the resident's 申請 page (no お知らせ: it has no title):
    審査中, and what it waits for."""
    return {"ref": app_id, "state": PENDING, "reason": reason[:300]}


class Claims:
    """The office's claims: filed, fetched, decided, told; retried until they are."""

    def __init__(
        self,
        allowance: ChildAllowance,
        portal: str,
        *,
        retry: float = 5.0,
        retry_max: float = 300.0,
    ) -> None:
        self.allowance = allowance
        self.portal = portal
        self.retry, self.retry_max = retry, retry_max
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def node(self) -> OfficeNode:
        return self.allowance.node

    @property
    def store(self) -> OfficeStore:
        return self.allowance.store

    async def filed(
        self, app_id: str, person: str, form: Mapping[str, Any], signer: Signer
    ) -> None:
        """A claim the desk accepted: kept 審査中 (once), then processed in the background."""
        if await self.store.get(CLAIMS, app_id) is None:
            found = await self.store.by_token(APPLICANTS, person)
            if found is None:  # a first claim: the claimant becomes an applicant
                applicant = f"A-{uuid.uuid4().hex[:12]}"
                first = {"first_claim": app_id}
                await self.store.put_many(APPLICANTS, [(applicant, person, first)])
            else:
                applicant = found[0]
            claim = {
                "applicant": applicant,
                "form": dict(form),
                "signer": {"name": signer.name, "birth_date": signer.birth_date},
                "filed_on": dt.datetime.now(JST).date().isoformat(),
                "status": PENDING,
                "reason": "照会中（住民記録・地方税）",
                "attempts": 0,
                "queries": [],
                "decision": None,
                "told": False,
            }
            await self.store.put_many(CLAIMS, [(app_id, None, claim)])
        self._spawn(app_id)

    async def resume(self) -> None:
        """Take up again the claims not yet decided and told (the office restarted), and open
        those received but never opened (it stopped between the receipt and ``filed``)."""
        for app_id in await self.store.keys(RECEIPTS):
            if await self.store.get(CLAIMS, app_id) is None:
                received = await self.store.get(RECEIPTS, app_id)
                if received is not None and received.get("kind") == AFFAIR:
                    await self._open_received(app_id, received)
        for app_id in await self.store.keys(CLAIMS):
            claim = await self.store.get(CLAIMS, app_id)
            if claim is not None and not claim["told"]:
                self._spawn(app_id)

    async def _open_received(self, app_id: str, received: Mapping[str, Any]) -> None:
        filer = received.get("filer")
        if not isinstance(filer, dict):  # kept before receipts named their filer
            log.warning("claim.unopenable", claim=app_id, why="the receipt names no filer")
            return
        signed_at = dt.datetime.fromisoformat(received["receipt"]["signed_at"])
        signer = Signer(filer["name"], filer["birth_date"], b"", signed_at)
        log.info("claim.opened_from_receipt", claim=app_id)
        await self.filed(app_id, filer["person"], received["form"], signer)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, app_id: str) -> None:
        if app_id not in self._tasks:
            task = asyncio.create_task(self._until_done(app_id), name=f"claim {app_id}")
            self._tasks[app_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(app_id, None))

    async def _until_done(self, app_id: str) -> None:
        pause = self.retry
        while True:
            try:
                if await self.process(app_id):
                    return
            except Exception:
                log.exception("claim.failed", claim=app_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.retry_max)

    async def process(self, app_id: str) -> bool:
        """One step: fetch and decide (if not yet), then tell (if not yet). True when done."""
        claim = await self.store.get(CLAIMS, app_id)
        if claim is None:
            return True
        token = await self.store.token(APPLICANTS, claim["applicant"])
        if token is None:
            raise LookupError(f"claim {app_id}: its applicant has no token")
        if claim["decision"] is None:
            claim = await self._report(app_id, claim, token)
            claim = await self._decide(app_id, claim, token)
            if claim["decision"] is None:
                await self._report(app_id, claim, token)
                return False
        if claim["told"]:
            return True
        verdict = _verdict(claim["decision"])
        outcome = await self.node.notify(token, self.portal, notice_for(verdict, app_id))
        if not isinstance(outcome, Delivered):
            reason = getattr(outcome, "reason", outcome.status)
            await self._save(app_id, claim, notice_error=f"{outcome.status}: {reason}")
            return False
        await self._save(app_id, claim, told=True, notice_error="")
        return True

    async def _report(self, app_id: str, claim: Mapping[str, Any], token: str) -> dict[str, Any]:
        """審査中 and why, to the resident's 申請 page, once per reason (best effort: the
        decision's notice is the one sent until it is delivered)."""
        if claim.get("reported") == claim["reason"]:
            return dict(claim)
        notice = progress_for(app_id, claim["reason"])
        outcome = await self.node.notify(token, self.portal, notice)
        if not isinstance(outcome, Delivered):
            log.info("claim.progress_unsent", claim=app_id, outcome=outcome.status)
            return dict(claim)
        return await self._save(app_id, claim, reported=claim["reason"])

    async def _decide(self, app_id: str, claim: Mapping[str, Any], token: str) -> dict[str, Any]:
        filed_on = dt.date.fromisoformat(claim["filed_on"])
        signer = claim["signer"]  # the claimant on the register is who signed (in-house)
        try:
            atena = await self.allowance.in_house.atena_of(signer["name"], signer["birth_date"])
        except Ambiguous as exc:  # not guessed: 審査中 until the desk tells them apart
            reason = f"in_house: {exc}: the desk identifies the claimant"
            return await self._save(app_id, claim, reason=reason, attempts=claim["attempts"] + 1)
        found = await self.allowance.supporting(atena, token, filed_on)
        queries = [*claim["queries"], *(str(a.record_id) for a in found.answers if a.record_id)]
        failed = [a for a in (found.household, found.tax) if not settled(a)]
        if found.household.status == "not_found":
            record = None
        elif found.household.data is not None:
            record = found.household.data["resident_record"]
        else:
            failed = failed or [found.household]
        if failed:  # never decided on missing data: 審査中, with the reason
            why = "; ".join(f"{a.status} {a.code}: {a.reason}".strip() for a in failed)
            return await self._save(
                app_id, claim, reason=why, attempts=claim["attempts"] + 1, queries=queries
            )
        verdict = decide_claim(record, claim["form"], filed_on, claim["signer"])
        decision = {
            "status": verdict.status,
            "monthly_yen": verdict.monthly_yen,
            "from_month": verdict.from_month.isoformat(),
            "children": verdict.children,
            "reason": verdict.reason,
            "decided_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        log.info("claim.decided", claim=app_id, status=verdict.status)
        return await self._save(
            app_id,
            claim,
            status=verdict.status,
            reason=verdict.reason,
            decision=decision,
            attempts=claim["attempts"] + 1,
            queries=queries,
        )

    async def _save(self, app_id: str, claim: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
        claim = {**claim, **changes}
        await self.store.put_many(CLAIMS, [(app_id, None, claim)])
        return claim


def _verdict(decision: Mapping[str, Any]) -> Verdict:
    return Verdict(
        decision["status"],
        int(decision["monthly_yen"]),
        dt.date.fromisoformat(decision["from_month"]),
        int(decision["children"]),
        str(decision["reason"]),
    )
