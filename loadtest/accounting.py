"""Loss accounting: did the network lose or double anything of what the replay sent? Pure.

The replayer keeps a :class:`Ledger` of what it sent; the composition root reads what the
network's own stores hold (:class:`Facts`: access records by query id, the change events each
office kept, the applications filed and processed, the dead letters). :func:`check` compares
them:

- every query sent got exactly one answer, and exactly one access record (those of the portal's
  logins, pages and applications too);
- every change event was kept exactly once by every office that held the person (one whose
  report got no answer, by every one of them or by none: the sender cannot know which);
- every login was answered (the card holder named, or refused), and named the resident whose
  card it was; every login with a revoked certificate was refused (the refusal expected, not a
  loss);
- every application was answered; one the office accepted is filed there exactly once (one
  receipt), one it refused not at all; one the office processes (a 児童手当 認定請求) was
  decided once and its decision told once (one お知らせ at the portal); one that revokes the
  signer's signature certificate (a 転出届: the move out its follow-up, a change event the
  ledger holds like any other) left it revoked at the CA;
- the dead-letter queue gained nothing, or each entry it gained carries its reason (they are
  listed in the report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCEPTED",
    "MISNAMED",
    "REFUSED",
    "UNANSWERED",
    "DeadLetter",
    "Facts",
    "Ledger",
    "Verdict",
    "check",
]

# what became of a login or an application, as the portal saw it
ACCEPTED, REFUSED, UNANSWERED, MISNAMED = "accepted", "refused", "unanswered", "misnamed"


@dataclass
class Ledger:
    """What the replayer sent: query ids (each with how many answers came back), change
    events (marker → the offices expected to keep it), logins and applications (id → what the
    portal saw: accepted, refused, unanswered; a login also misnamed), the applications the
    office processes, the logins whose certificate was revoked, the applications whose
    signature certificate must end revoked."""

    answers: Counter[str] = field(default_factory=Counter)  # query id → answers received
    unanswered: set[str] = field(default_factory=set)  # query ids sent, no answer (timed out)
    events: dict[str, frozenset[str]] = field(default_factory=dict)
    unsure: set[str] = field(default_factory=set)  # change events whose report got no answer
    logins: dict[str, str] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)  # accepted ones the office processes
    revoked_logins: set[str] = field(default_factory=set)  # login ids: must be refused
    revoking: set[str] = field(default_factory=set)  # accepted ones revoking the signer's cert

    def asked(self, query_id: str, *, answered: bool) -> None:
        if answered:
            self.answers[query_id] += 1
        else:
            self.unanswered.add(query_id)

    @property
    def queries(self) -> set[str]:
        return set(self.answers) | self.unanswered


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    reason: str
    message_id: str = ""


@dataclass
class Facts:
    """What the network's stores hold after the replay."""

    records: Counter[str] = field(default_factory=Counter)  # query id → access records
    events: dict[str, Counter[str]] = field(default_factory=dict)  # marker → office → kept
    applications: Counter[str] = field(default_factory=Counter)  # application id → receipts
    decisions: Counter[str] = field(default_factory=Counter)  # application id → decided
    notices: Counter[str] = field(default_factory=Counter)  # application id → お知らせ kept
    revoked: frozenset[str] = frozenset()  # application ids whose signer's cert is revoked
    dead_letters: Sequence[DeadLetter] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    problems: tuple[str, ...]
    figures: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return not self.problems


def _few(ids: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(sorted(ids)[:n])
    return shown + (f" … ({len(ids)} in all)" if len(ids) > n else "")


def check(ledger: Ledger, facts: Facts) -> Verdict:
    problems: list[str] = []
    queries = ledger.queries
    if ledger.unanswered:
        problems.append(f"queries with no answer: {_few(list(ledger.unanswered))}")
    doubled = [q for q, n in ledger.answers.items() if n > 1]
    if doubled:
        problems.append(f"queries answered more than once: {_few(doubled)}")
    no_record = [q for q in queries if facts.records.get(q, 0) == 0]
    if no_record:
        problems.append(f"queries with no access record: {_few(no_record)}")
    two_records = [q for q in queries if facts.records.get(q, 0) > 1]
    if two_records:
        problems.append(f"queries with more than one access record: {_few(two_records)}")
    missed, twice, stray = [], [], []
    for marker, holders in ledger.events.items():
        kept = facts.events.get(marker, Counter())
        if marker in ledger.unsure and not kept:  # not delivered: the other possible fate
            continue
        missed += [f"{marker}@{o}" for o in holders if kept.get(o, 0) == 0]
        twice += [f"{marker}@{o}" for o in holders if kept.get(o, 0) > 1]
        stray += [f"{marker}@{o}" for o in kept if o not in holders]
    if missed:
        problems.append(f"change events a holder never applied: {_few(missed)}")
    if twice:
        problems.append(f"change events applied more than once: {_few(twice)}")
    if stray:
        problems.append(f"change events applied by an office that did not hold: {_few(stray)}")
    problems += _logins(ledger)
    problems += _applications(ledger, facts)
    unexplained = [d for d in facts.dead_letters if not d.reason]
    if unexplained:
        problems.append(f"{len(unexplained)} dead letters without a reason")
    figures = {
        "queries_sent": len(queries),
        "queries_answered_once": sum(1 for n in ledger.answers.values() if n == 1),
        "access_records_for_them": sum(facts.records.get(q, 0) for q in queries),
        "change_events": len(ledger.events),
        "change_deliveries_expected": sum(len(h) for h in ledger.events.values()),
        "change_deliveries_kept": sum(
            sum(facts.events.get(m, Counter()).values()) for m in ledger.events
        ),
        "logins": len(ledger.logins),
        "logins_answered": sum(1 for s in ledger.logins.values() if s in (ACCEPTED, REFUSED)),
        "logins_revoked": len(ledger.revoked_logins),
        "logins_revoked_refused": sum(
            1 for i in ledger.revoked_logins if ledger.logins.get(i) == REFUSED
        ),
        "applications": len(ledger.applications),
        "applications_accepted": sum(1 for s in ledger.applications.values() if s == ACCEPTED),
        "applications_filed": sum(facts.applications.get(a, 0) for a in ledger.applications),
        "applications_to_process": len(ledger.processed),
        "applications_processed": sum(facts.decisions.get(a, 0) for a in ledger.processed),
        "decisions_told": sum(facts.notices.get(a, 0) for a in ledger.processed),
        "signatures_to_revoke": len(ledger.revoking),
        "signatures_revoked": len(ledger.revoking & facts.revoked),
        "dead_letters": [
            {"queue": d.queue, "reason": d.reason, "message_id": d.message_id}
            for d in facts.dead_letters
        ],
    }
    return Verdict(tuple(problems), figures)


def _logins(ledger: Ledger) -> list[str]:
    problems = []
    unanswered = [i for i, s in ledger.logins.items() if s == UNANSWERED]
    if unanswered:
        problems.append(f"logins with no answer: {_few(unanswered)}")
    misnamed = [i for i, s in ledger.logins.items() if s == MISNAMED]
    if misnamed:
        problems.append(f"logins that named another resident: {_few(misnamed)}")
    let_in = [i for i in ledger.revoked_logins if ledger.logins.get(i) in (ACCEPTED, MISNAMED)]
    if let_in:
        problems.append(f"logins with a revoked certificate let in: {_few(let_in)}")
    return problems


def _applications(ledger: Ledger, facts: Facts) -> list[str]:
    problems = []
    filed = ledger.applications
    unanswered = [a for a, s in filed.items() if s == UNANSWERED]
    if unanswered:
        problems.append(f"applications with no answer: {_few(unanswered)}")
    receipts = facts.applications
    not_filed = [a for a, s in filed.items() if s == ACCEPTED and receipts.get(a, 0) == 0]
    if not_filed:
        problems.append(f"applications accepted but never filed: {_few(not_filed)}")
    twice = [a for a in filed if receipts.get(a, 0) > 1]
    if twice:
        problems.append(f"applications filed more than once: {_few(twice)}")
    refused = [a for a, s in filed.items() if s != ACCEPTED and receipts.get(a, 0) == 1]
    if refused:
        problems.append(f"applications filed though the portal was not told so: {_few(refused)}")
    for what, counts in (("decided", facts.decisions), ("told (お知らせ)", facts.notices)):
        never = [a for a in ledger.processed if counts.get(a, 0) == 0]
        if never:
            problems.append(f"applications never {what}: {_few(never)}")
        more = [a for a in ledger.processed if counts.get(a, 0) > 1]
        if more:
            problems.append(f"applications {what} more than once: {_few(more)}")
    kept = [a for a in ledger.revoking if a not in facts.revoked]
    if kept:
        problems.append(f"applications whose signature certificate was not revoked: {_few(kept)}")
    return problems
