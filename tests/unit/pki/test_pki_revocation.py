"""Revocation: the policy table, applying resident events, resident requests, and the CRLs."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_helpers import CHIYODA, HANAKO, HIERARCHY, Clock, ec_key, issue_pair, make_ca

from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    EventKind,
    Malformed,
    NotOnFile,
    ResidentEvent,
    Revocation,
    revocations_for,
)
from pki.ca.crl import check_crl, load_crl
from pki.ca.ledger import Ledger
from pki.ca.office import CaListener, holder_for
from pki.ca.revocation import RequestReason, check_holder

R = x509.ReasonFlags
NOW = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)


def event(kind: EventKind, holder: str = "card-1", at: dt.datetime = NOW) -> ResidentEvent:
    return ResidentEvent(kind, holder, at)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (EventKind.MOVED, [(CertKind.SIGNATURE, R.affiliation_changed)]),
        (EventKind.NAME_CHANGED, [(CertKind.SIGNATURE, R.affiliation_changed)]),
        (
            EventKind.DIED,
            [
                (CertKind.SIGNATURE, R.cessation_of_operation),
                (CertKind.AUTHENTICATION, R.cessation_of_operation),
            ],
        ),
        (
            EventKind.NUMBER_CHANGED,
            [(CertKind.SIGNATURE, R.superseded), (CertKind.AUTHENTICATION, R.superseded)],
        ),
        (
            EventKind.CARD_LOST,
            [(CertKind.SIGNATURE, R.key_compromise), (CertKind.AUTHENTICATION, R.key_compromise)],
        ),
    ],
)
def test_policy_table(kind: EventKind, expected: list[tuple[CertKind, R]]) -> None:
    assert revocations_for(event(kind)) == tuple(Revocation(k, r) for k, r in expected)


@pytest.mark.parametrize(
    "holder", ["", "123456789018", "12345678901", "7000012050002", "a b", "x" * 65, "-lead", 42]
)
def test_holders_shaped_like_numbers_or_junk_are_refused(holder: object) -> None:
    with pytest.raises(Malformed):
        check_holder(holder)


def test_events_are_validated_and_repr_hides_the_holder() -> None:
    with pytest.raises(Malformed, match="timezone"):
        ResidentEvent(EventKind.DIED, "card-1", dt.datetime(2026, 1, 1))
    with pytest.raises(Malformed, match="kind"):
        ResidentEvent("died", "card-1", NOW)  # type: ignore[arg-type]
    assert "card-1" not in repr(event(EventKind.DIED))


def statuses(ca, sig, auth):  # type: ignore[no-untyped-def]
    return ca.status(CaName.SIGNATURE, sig.serial)[1], ca.status(
        CaName.AUTHENTICATION, auth.serial
    )[1]


def test_moving_revokes_only_the_signature_certificate() -> None:
    ca = make_ca()
    sig, auth = issue_pair(ca)
    other_sig, _ = issue_pair(ca, holder="card-2", facts=HANAKO)
    done = ca.apply_event(event(EventKind.MOVED, at=ca.now()))
    assert [(r.ca, r.serial, r.reason) for r in done] == [
        (CaName.SIGNATURE, sig.serial, R.affiliation_changed)
    ]
    s, a = statuses(ca, sig, auth)
    assert s is not None and a is None
    assert ca.status(CaName.SIGNATURE, other_sig.serial) == (True, None)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [(EventKind.DIED, R.cessation_of_operation), (EventKind.CARD_LOST, R.key_compromise)],
)
def test_death_and_loss_revoke_both(kind: EventKind, reason: R) -> None:
    ca = make_ca()
    sig, auth = issue_pair(ca)
    done = ca.apply_event(event(kind, at=ca.now()))
    assert {(r.ca, r.reason) for r in done} == {
        (CaName.SIGNATURE, reason),
        (CaName.AUTHENTICATION, reason),
    }
    s, a = statuses(ca, sig, auth)
    assert s is not None and a is not None


def test_events_are_idempotent_and_unknown_holders_are_a_no_op() -> None:
    ca = make_ca()
    issue_pair(ca)
    first = ca.apply_event(event(EventKind.DIED, at=ca.now()))
    assert len(first) == 2
    assert ca.apply_event(event(EventKind.DIED, at=ca.now())) == []
    assert ca.apply_event(event(EventKind.DIED, holder="card-404", at=ca.now())) == []


def test_a_certificate_issued_after_the_change_survives_its_late_event() -> None:
    clock = Clock(NOW)
    ca = make_ca(clock)
    old, _ = issue_pair(ca)
    clock.shift(days=2)  # moved on day 1, new card with the new address on day 2
    new = ca.issue(CertKind.SIGNATURE, ec_key(2).public_key(), "card-1", CHIYODA, HANAKO)
    clock.shift(days=1)  # the move's event arrives on day 3
    done = ca.apply_event(event(EventKind.MOVED, at=NOW + dt.timedelta(days=1)))
    assert [r.serial for r in done] == [old.serial]
    assert ca.status(CaName.SIGNATURE, new.serial) == (True, None)
    rec = done[0]
    assert rec.revoked_at == clock.now.replace(microsecond=0)
    assert rec.invalid_since == NOW + dt.timedelta(days=1)


def test_resident_requested_revocation_and_unknown_serials() -> None:
    ca = make_ca()
    _, auth = issue_pair(ca)
    rec = ca.revoke(CaName.AUTHENTICATION, auth.serial, RequestReason.CESSATION.crl_reason)
    assert rec.reason is R.cessation_of_operation
    again = ca.revoke(CaName.AUTHENTICATION, auth.serial, R.key_compromise)
    assert again == rec  # the first revocation stands
    with pytest.raises(NotOnFile):
        ca.revoke(CaName.SIGNATURE, auth.serial, R.key_compromise)  # another CA's serial
    with pytest.raises(NotOnFile):
        ca.revoke(CaName.AUTHENTICATION, 12345, R.key_compromise)


def test_crl_lists_revocations_with_reason_and_invalidity_date() -> None:
    clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    ca = make_ca(clock)
    sig, auth = issue_pair(ca)
    clock.shift(days=3)
    before = ca.crl(CaName.SIGNATURE)
    assert list(before) == []
    moved_at = clock.now - dt.timedelta(days=2)
    ca.apply_event(event(EventKind.MOVED, at=moved_at))
    crl = load_crl(ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.DER))
    assert crl == load_crl(ca.crl_bytes(CaName.SIGNATURE, serialization.Encoding.PEM))
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    issuer = HIERARCHY.cas[CaName.SIGNATURE].cert
    status = check_crl(crl, issuer, sig.serial, clock.now)
    assert status.reason is R.affiliation_changed
    assert status.invalid_since == moved_at.replace(microsecond=0)
    assert check_crl(crl, issuer, auth.serial, clock.now).revoked_at is None
    assert crl.next_update_utc == crl.last_update_utc + 2 * ca.crl_interval
    assert list(ca.crl(CaName.AUTHENTICATION)) == []


def test_scheduled_refresh_moves_next_update_and_keeps_numbers_rising() -> None:
    clock = Clock()
    ca = make_ca(clock)
    numbers = []
    for _ in range(3):
        ca.refresh_crls()
        numbers.append(
            ca.crl(CaName.ROOT).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        )
    assert numbers == sorted(set(numbers))
    old_next = ca.crl(CaName.SIGNATURE).next_update_utc
    clock.shift(hours=1)
    ca.refresh_crls()
    assert ca.crl(CaName.SIGNATURE).next_update_utc == old_next + dt.timedelta(hours=1)


def test_crl_checks_refuse_foreign_stale_and_forged_crls() -> None:
    from pki import RevocationUnknown

    clock = Clock()
    ca = make_ca(clock)
    sig_ca = HIERARCHY.cas[CaName.SIGNATURE].cert
    auth_crl = ca.crl(CaName.AUTHENTICATION)
    with pytest.raises(RevocationUnknown, match="not the issuing CA"):
        check_crl(auth_crl, sig_ca, 1, clock.now)
    with pytest.raises(RevocationUnknown, match="out of date"):
        check_crl(ca.crl(CaName.SIGNATURE), sig_ca, 1, clock.now + dt.timedelta(days=1))
    other = make_ca(hierarchy=type(HIERARCHY).generate(clock.now))
    with pytest.raises(RevocationUnknown, match="signature"):
        check_crl(other.crl(CaName.SIGNATURE), sig_ca, 1, clock.now)
    with pytest.raises(Malformed):
        load_crl(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")


# ---- J-LIS's 異動等失効情報, by the 住民票コード given at issuance ----------------------------------

CODE = "12345678903"


def test_a_notice_revokes_by_the_code_once_per_event(tmp_path: Path) -> None:
    clock = Clock()
    ca = CertificationAuthority(
        HIERARCHY,
        holder_key=b"k" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
        ledger=Ledger(tmp_path / "ledger.sqlite3"),
        clock=clock,
    )
    key = ec_key(0).public_key()
    sig = ca.issue(CertKind.SIGNATURE, key, "card-1", CHIYODA, HANAKO, code=CODE)
    auth = ca.issue(CertKind.AUTHENTICATION, key, "card-1", CHIYODA, code=CODE)
    other = ca.issue(CertKind.SIGNATURE, key, "card-2", CHIYODA, HANAKO)  # no code given
    clock.shift(minutes=1)
    done = ca.apply_notice(EventKind.MOVED, CODE, "e1")
    assert done is not None and [(r.ca, r.serial) for r in done] == [(CaName.SIGNATURE, sig.serial)]
    assert ca.status(CaName.AUTHENTICATION, auth.serial)[1] is None
    assert ca.status(CaName.SIGNATURE, other.serial)[1] is None
    clock.shift(minutes=1)
    new = ca.issue(CertKind.SIGNATURE, key, "card-3", CHIYODA, HANAKO, code=CODE)
    clock.shift(minutes=1)
    assert ca.apply_notice(EventKind.MOVED, CODE, "e1") is None  # again: nothing more
    assert ca.status(CaName.SIGNATURE, new.serial)[1] is None
    ca.close()
    # the codes and the notices applied are kept: a CA started again knows them
    again = CertificationAuthority(
        HIERARCHY,
        holder_key=b"k" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
        ledger=Ledger(tmp_path / "ledger.sqlite3"),
        clock=clock,
    )
    assert again.apply_notice(EventKind.MOVED, CODE, "e1") is None
    done = again.apply_notice(EventKind.DIED, CODE, "e2")
    assert done is not None
    assert {(r.ca, r.serial) for r in done} == {
        (CaName.SIGNATURE, new.serial),
        (CaName.AUTHENTICATION, auth.serial),
    }
    assert again.apply_notice(EventKind.MOVED, "00000000000", "e3") == []  # no card: nothing
    again.close()


def test_a_late_notice_spares_a_certificate_issued_after_jlis_recorded_the_change() -> None:
    """J-LIS kept the notice while the CA was down: the move is as of J-LIS's record (``at``),
    so the card issued after it survives, and the old one was invalid since then."""
    clock = Clock()
    ca = CertificationAuthority(
        HIERARCHY, holder_key=b"k" * 32, endpoints=Endpoints("http://127.0.0.1:9"), clock=clock
    )
    key = ec_key(0).public_key()
    old = ca.issue(CertKind.SIGNATURE, key, "card-1", CHIYODA, HANAKO, code=CODE)
    clock.shift(minutes=10)
    recorded = clock()
    clock.shift(minutes=10)
    new = ca.issue(CertKind.SIGNATURE, key, "card-2", CHIYODA, HANAKO, code=CODE)
    clock.shift(hours=5)
    done = ca.apply_notice(EventKind.MOVED, CODE, "e1", recorded=recorded)
    assert done is not None and [r.serial for r in done] == [old.serial]
    since = done[0].invalid_since
    assert since is not None and abs(since - recorded) < dt.timedelta(seconds=1)
    assert ca.status(CaName.SIGNATURE, new.serial)[1] is None
    # a time after now is taken as now
    done = ca.apply_notice(EventKind.DIED, CODE, "e2", recorded=clock() + dt.timedelta(days=1))
    assert done is not None and [r.serial for r in done] == [new.serial]


async def test_the_hubs_event_revokes_only_a_holder_no_notice_can_reach() -> None:
    """A card issued before the CA kept codes (a deployment upgraded across the 住基ネット
    split): J-LIS's notices do not reach it, so the hub's change event revokes it; a holder
    with a code is left to J-LIS's notice (one path each, never both)."""
    clock = Clock()
    ca = make_ca(clock)
    listener = CaListener(ca)
    key = ec_key(0).public_key()
    old = ca.issue(CertKind.SIGNATURE, key, holder_for("old"), CHIYODA, HANAKO)  # no code
    new = ca.issue(CertKind.SIGNATURE, key, holder_for("new"), CHIYODA, HANAKO, code=CODE)
    clock.shift(minutes=1)
    on = dt.date(2026, 12, 1)
    for person in ("old", "new", "nobody"):
        await listener.changed(person, "moved_out", on, {})
    await listener.changed("old", "household", on, {})  # revokes nothing anyway
    assert ca.status(CaName.SIGNATURE, old.serial)[1] is not None
    assert ca.status(CaName.SIGNATURE, new.serial)[1] is None
    assert ca.apply_notice(EventKind.MOVED, CODE, "e1") is not None
    assert ca.status(CaName.SIGNATURE, new.serial)[1] is not None
    await listener.close()


def test_a_ledger_of_before_the_codes_opens_and_keeps_them(tmp_path: Path) -> None:
    """A ledger file made before the CA kept codes and notices gains their tables."""
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE issued (ca TEXT NOT NULL, serial TEXT NOT NULL, holder TEXT NOT NULL,"
        " not_before TEXT NOT NULL, not_after TEXT NOT NULL, PRIMARY KEY (ca, serial));"
        "CREATE TABLE revoked (ca TEXT NOT NULL, serial TEXT NOT NULL, reason TEXT NOT NULL,"
        " revoked_at TEXT NOT NULL, invalid_since TEXT, PRIMARY KEY (ca, serial));"
    )
    db.close()
    ledger = Ledger(path)
    ledger.link_code("c", "h")
    ledger.mark_notice("e1")
    ledger.close()
    again = Ledger(path)
    assert again.holders_of_code("c") == ["h"] and again.has_code("h")
    assert again.notice_applied("e1")
    again.close()


@pytest.mark.parametrize("code", ["1234567890", "123456789012", "1234567890x", "card-1"])
def test_a_code_is_eleven_digits(code: str) -> None:
    ca = make_ca()
    with pytest.raises(Malformed):
        ca.issue(CertKind.AUTHENTICATION, ec_key(0).public_key(), "card-1", CHIYODA, code=code)
    with pytest.raises(Malformed):
        ca.apply_notice(EventKind.MOVED, code, "e1")
