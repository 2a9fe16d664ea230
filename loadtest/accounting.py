"""Loss accounting: did the network lose or double anything of what the replay sent? Pure.

The replayer keeps a :class:`Ledger` of what it sent; the composition root reads what the
network's own stores hold (:class:`Facts`: access records by query id, the change events each
office kept, the applications filed, the dead letters). :func:`check` compares them:

- every query sent got exactly one answer, and exactly one access record;
- every change event was kept exactly once by every office that held the person;
- every application was filed once;
- the dead-letter queue gained nothing, or each entry it gained carries its reason (they are
  listed in the report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeadLetter", "Facts", "Ledger", "Verdict", "check"]


@dataclass
class Ledger:
    """What the replayer sent: query ids (each with how many answers came back), change
    events (marker → the offices expected to keep it), applications (id)."""

    answers: Counter[str] = field(default_factory=Counter)  # query id → answers received
    unanswered: set[str] = field(default_factory=set)  # query ids sent, no answer (timed out)
    events: dict[str, frozenset[str]] = field(default_factory=dict)
    applications: set[str] = field(default_factory=set)

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
    applications: Counter[str] = field(default_factory=Counter)  # application id → filed
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
        missed += [f"{marker}@{o}" for o in holders if kept.get(o, 0) == 0]
        twice += [f"{marker}@{o}" for o in holders if kept.get(o, 0) > 1]
        stray += [f"{marker}@{o}" for o in kept if o not in holders]
    if missed:
        problems.append(f"change events a holder never applied: {_few(missed)}")
    if twice:
        problems.append(f"change events applied more than once: {_few(twice)}")
    if stray:
        problems.append(f"change events applied by an office that did not hold: {_few(stray)}")
    not_filed = [a for a in ledger.applications if facts.applications.get(a, 0) == 0]
    filed_twice = [a for a in ledger.applications if facts.applications.get(a, 0) > 1]
    if not_filed:
        problems.append(f"applications never filed: {_few(not_filed)}")
    if filed_twice:
        problems.append(f"applications filed more than once: {_few(filed_twice)}")
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
        "applications": len(ledger.applications),
        "dead_letters": [
            {"queue": d.queue, "reason": d.reason, "message_id": d.message_id}
            for d in facts.dead_letters
        ],
    }
    return Verdict(tuple(problems), figures)
