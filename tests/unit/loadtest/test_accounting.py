"""The loss check fails on each kind of loss or duplicate, and passes when all is there."""

from __future__ import annotations

from collections import Counter

from loadtest.accounting import DeadLetter, Facts, Ledger, check


def _whole() -> tuple[Ledger, Facts]:
    ledger = Ledger()
    for q in ("q1", "q2", "q3"):
        ledger.asked(q, answered=True)
    ledger.events["e1"] = frozenset({"tax", "child"})
    ledger.applications.add("a1")
    facts = Facts(
        records=Counter({"q1": 1, "q2": 1, "q3": 1, "someone-else": 1}),
        events={"e1": Counter({"tax": 1, "child": 1})},
        applications=Counter({"a1": 1}),
    )
    return ledger, facts


def test_everything_there_passes() -> None:
    verdict = check(*_whole())
    assert verdict.ok, verdict.problems
    assert verdict.figures["queries_sent"] == 3
    assert verdict.figures["access_records_for_them"] == 3
    assert verdict.figures["change_deliveries_kept"] == 2


def test_a_missing_answer_fails() -> None:
    ledger, facts = _whole()
    ledger.asked("q4", answered=False)
    facts.records["q4"] = 1
    assert any("no answer" in p and "q4" in p for p in check(ledger, facts).problems)


def test_a_doubled_answer_fails() -> None:
    ledger, facts = _whole()
    ledger.asked("q2", answered=True)
    assert any("answered more than once" in p and "q2" in p for p in check(ledger, facts).problems)


def test_a_missing_record_fails() -> None:
    ledger, facts = _whole()
    del facts.records["q2"]
    assert any("no access record" in p and "q2" in p for p in check(ledger, facts).problems)


def test_a_doubled_record_fails() -> None:
    ledger, facts = _whole()
    facts.records["q3"] += 1
    assert any("more than one access record" in p for p in check(ledger, facts).problems)


def test_change_events_missed_doubled_or_stray_fail() -> None:
    for kept, words in (
        (Counter({"tax": 1}), "never applied"),
        (Counter({"tax": 1, "child": 2}), "more than once"),
        (Counter({"tax": 1, "child": 1, "nhi": 1}), "did not hold"),
    ):
        ledger, facts = _whole()
        facts.events["e1"] = kept
        assert any(words in p for p in check(ledger, facts).problems), words


def test_applications_not_filed_or_twice_fail() -> None:
    for n, words in ((0, "never filed"), (2, "filed more than once")):
        ledger, facts = _whole()
        facts.applications["a1"] = n
        assert any(words in p for p in check(ledger, facts).problems), words


def test_dead_letters_are_listed_and_fail_only_without_a_reason() -> None:
    ledger, facts = _whole()
    facts.dead_letters = [DeadLetter("renkei.dead", "wire.bad_signature: forged", "m1")]
    verdict = check(ledger, facts)
    assert verdict.ok
    assert verdict.figures["dead_letters"][0]["reason"].startswith("wire.bad_signature")
    facts.dead_letters = [DeadLetter("renkei.dead", "", "m2")]
    assert not check(ledger, facts).ok
