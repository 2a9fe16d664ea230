"""The loss check fails on each kind of loss or duplicate, and passes when all is there."""
# logins unanswered or naming another resident, applications unanswered, not filed, filed
# twice or filed though refused, processed ones never decided or told (or twice) fail too

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from loadtest.accounting import (
    ACCEPTED,
    MISNAMED,
    REFUSED,
    UNANSWERED,
    DeadLetter,
    Facts,
    Ledger,
    check,
)


def _whole() -> tuple[Ledger, Facts]:
    ledger = Ledger()
    for q in ("q1", "q2", "q3"):
        ledger.asked(q, answered=True)
    ledger.events["e1"] = frozenset({"tax", "child"})
    ledger.applications |= {"a1": ACCEPTED, "a2": REFUSED}
    ledger.processed.add("a1")
    ledger.logins |= {"l1": ACCEPTED, "l2": REFUSED}
    facts = Facts(
        records=Counter({"q1": 1, "q2": 1, "q3": 1, "someone-else": 1}),
        events={"e1": Counter({"tax": 1, "child": 1})},
        applications=Counter({"a1": 1}),
        decisions=Counter({"a1": 1}),
        notices=Counter({"a1": 1}),
    )
    return ledger, facts


def test_everything_there_passes() -> None:
    verdict = check(*_whole())
    assert verdict.ok, verdict.problems
    assert verdict.figures["queries_sent"] == 3
    assert verdict.figures["access_records_for_them"] == 3
    assert verdict.figures["change_deliveries_kept"] == 2
    figures = verdict.figures
    assert (figures["logins"], figures["logins_answered"]) == (2, 2)
    assert (figures["applications"], figures["applications_accepted"]) == (2, 1)
    assert (figures["applications_filed"], figures["applications_processed"]) == (1, 1)
    assert figures["decisions_told"] == 1


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


def test_a_change_event_whose_report_got_no_answer_is_kept_by_all_its_holders_or_none() -> None:
    ledger, facts = _whole()
    ledger.unsure.add("e1")
    assert check(ledger, facts).ok  # delivered after all
    del facts.events["e1"]
    assert check(ledger, facts).ok  # or never
    for kept in (Counter({"tax": 1}), Counter({"tax": 1, "child": 2})):
        facts.events["e1"] = kept  # but never to some of them, nor twice
        assert not check(ledger, facts).ok


@pytest.mark.parametrize(
    ("app", "receipts", "words"),
    [
        ("a1", 0, "accepted but never filed"),
        ("a1", 2, "filed more than once"),
        ("a2", 1, "filed though the portal was not told so"),
        ("a2", 2, "filed more than once"),
    ],
)
def test_applications_not_filed_twice_or_behind_a_refusal_fail(
    app: str, receipts: int, words: str
) -> None:
    ledger, facts = _whole()
    facts.applications[app] = receipts
    assert any(words in p and app in p for p in check(ledger, facts).problems), words


def test_an_unanswered_application_fails() -> None:
    ledger, facts = _whole()
    ledger.applications["a3"] = UNANSWERED
    assert any("applications with no answer: a3" in p for p in check(ledger, facts).problems)


@pytest.mark.parametrize("what", ["decisions", "notices"])
@pytest.mark.parametrize(("n", "words"), [(0, "never"), (2, "more than once")])
def test_a_processed_application_never_or_twice_decided_or_told_fails(
    what: str, n: int, words: str
) -> None:
    ledger, facts = _whole()
    getattr(facts, what)["a1"] = n
    problems = check(ledger, facts).problems
    assert any(words in p and "a1" in p for p in problems), problems


@pytest.mark.parametrize(
    ("status", "words"),
    [(UNANSWERED, "logins with no answer"), (MISNAMED, "named another resident")],
)
def test_a_login_unanswered_or_naming_another_fails(status: str, words: str) -> None:
    ledger, facts = _whole()
    ledger.logins["l3"] = status
    assert any(words in p and "l3" in p for p in check(ledger, facts).problems)


def test_dead_letters_are_listed_and_fail_only_without_a_reason() -> None:
    ledger, facts = _whole()
    facts.dead_letters = [DeadLetter("renkei.dead", "wire.bad_signature: forged", "m1")]
    verdict = check(ledger, facts)
    assert verdict.ok
    assert verdict.figures["dead_letters"][0]["reason"].startswith("wire.bad_signature")
    facts.dead_letters = [DeadLetter("renkei.dead", "", "m2")]
    assert not check(ledger, facts).ok


def _moves() -> tuple[Ledger, Facts]:
    """A 転出届 accepted (its move out kept by its holders, its signature certificate to be
    revoked) and two logins with cards reported lost, refused."""
    ledger, facts = _whole()
    ledger.applications["m1"] = ACCEPTED
    ledger.revoking.add("m1")
    ledger.events["ev-m1"] = frozenset({"pension", "shinjuku-resident"})
    ledger.logins |= {"l3": REFUSED, "l4": REFUSED}
    ledger.revoked_logins |= {"l3", "l4"}
    facts.applications["m1"] = 1
    facts.events["ev-m1"] = Counter({"pension": 1, "shinjuku-resident": 1})
    return ledger, dataclasses.replace(facts, revoked=frozenset({"m1"}))


def test_a_move_out_filed_and_revoked_and_refused_lost_cards_pass() -> None:
    verdict = check(*_moves())
    assert verdict.ok, verdict.problems
    figures = verdict.figures
    assert (figures["logins_revoked"], figures["logins_revoked_refused"]) == (2, 2)
    assert (figures["signatures_to_revoke"], figures["signatures_revoked"]) == (1, 1)


@pytest.mark.parametrize("status", [ACCEPTED, MISNAMED])
def test_a_login_with_a_revoked_certificate_let_in_fails(status: str) -> None:
    ledger, facts = _moves()
    ledger.logins["l4"] = status
    assert any(
        "revoked certificate let in" in p and "l4" in p for p in check(ledger, facts).problems
    )


def test_a_revoked_login_unanswered_fails_as_any_login() -> None:
    ledger, facts = _moves()
    ledger.logins["l3"] = UNANSWERED
    assert any("logins with no answer" in p for p in check(ledger, facts).problems)


def test_a_move_out_whose_signature_certificate_stayed_valid_fails() -> None:
    ledger, facts = _moves()
    facts = dataclasses.replace(facts, revoked=frozenset())
    problems = check(ledger, facts).problems
    assert any("signature certificate was not revoked" in p and "m1" in p for p in problems)


def test_a_move_out_not_kept_by_the_register_moved_to_fails() -> None:
    ledger, facts = _moves()
    del facts.events["ev-m1"]["shinjuku-resident"]
    problems = check(ledger, facts).problems
    assert any("never applied" in p and "ev-m1@shinjuku-resident" in p for p in problems)
