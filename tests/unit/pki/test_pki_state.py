"""State at rest: encrypted keys, 0600 secrets, the ledger (and its crashes), the verifier registry."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from pki_helpers import CHIYODA, TARO, ec_key

from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    EventKind,
    Malformed,
    NotOnFile,
    ResidentEvent,
    StateError,
    Unauthorized,
    VerifierKind,
    VerifierRegistry,
)
from pki.ca.hierarchy import RESPONDER_DAYS
from pki.ca.keystore import open_state
from pki.ca.ledger import CertRecord, Ledger, RequestRecord

NOW = dt.datetime.now(dt.UTC)
URL = Endpoints("http://127.0.0.1:9")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki") / "pki"
    open_state(root, NOW)
    return root


def test_first_start_makes_encrypted_keys_and_private_secrets(state_dir: Path) -> None:
    for name in ("password", "operator-token", "holder-key"):
        assert (state_dir / name).stat().st_mode & 0o777 == 0o600
    keys = sorted(p.name for p in (state_dir / "keys").iterdir())
    assert keys == [
        "authentication.key.pem",
        "ocsp-authentication.key.pem",
        "ocsp-signature.key.pem",
        "root.key.pem",
        "signature.key.pem",
    ]
    for k in (state_dir / "keys").iterdir():
        assert k.stat().st_mode & 0o777 == 0o600
        assert k.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    chain = x509.load_pem_x509_certificates((state_dir / "certs/chain.pem").read_bytes())
    assert len(chain) == 3


def test_restart_loads_the_same_hierarchy(state_dir: Path) -> None:
    a, b = open_state(state_dir, NOW), open_state(state_dir, NOW)
    assert a.hierarchy.root.cert == b.hierarchy.root.cert
    assert a.hierarchy.cas[CaName.SIGNATURE].cert == b.hierarchy.cas[CaName.SIGNATURE].cert
    assert a.operator_token == b.operator_token and a.holder_key == b.holder_key


def test_responders_are_renewed_near_their_end(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    first = open_state(root, NOW)
    later = NOW + dt.timedelta(days=RESPONDER_DAYS - 10)
    renewed = open_state(root, later)
    old, new = (
        first.hierarchy.responders[CaName.SIGNATURE],
        renewed.hierarchy.responders[CaName.SIGNATURE],
    )
    assert new.cert != old.cert and new.cert.not_valid_after_utc > later + dt.timedelta(days=300)
    assert open_state(root, later).hierarchy.responders[CaName.SIGNATURE].cert == new.cert
    assert renewed.hierarchy.root.cert == first.hierarchy.root.cert


def test_a_wrong_password_or_loose_permissions_refuse_to_start(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    open_state(root, NOW)
    os.chmod(root / "password", 0o644)
    with pytest.raises(StateError, match="readable by others"):
        open_state(root, NOW)
    os.chmod(root / "password", 0o600)
    (root / "password").write_bytes(b"not the password")
    with pytest.raises(StateError, match="wrong password"):
        open_state(root, NOW)


def test_an_incomplete_state_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    open_state(root, NOW)
    (root / "keys/signature.key.pem").unlink()
    with pytest.raises(StateError, match="incomplete"):
        open_state(root, NOW)


def test_a_swapped_certificate_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    open_state(root, NOW)
    (root / "certs/signature.pem").write_bytes((root / "certs/authentication.pem").read_bytes())
    with pytest.raises(StateError, match="does not match"):
        open_state(root, NOW)


def test_issued_and_revoked_survive_a_restart(tmp_path: Path) -> None:
    ca = CertificationAuthority.open(tmp_path / "pki", URL)
    sig = ca.issue(CertKind.SIGNATURE, ec_key().public_key(), "card-9", CHIYODA, TARO)
    auth = ca.issue(CertKind.AUTHENTICATION, ec_key(1).public_key(), "card-9", CHIYODA)
    ca.apply_event(ResidentEvent(EventKind.MOVED, "card-9", ca.now()))
    ca.close()
    assert (tmp_path / "pki/ledger.sqlite3").stat().st_mode & 0o777 == 0o600
    stored = b"".join(p.read_bytes() for p in (tmp_path / "pki").glob("ledger.sqlite3*"))
    assert b"card-9" not in stored and TARO.name.encode() not in stored  # holder digest only
    again = CertificationAuthority.open(tmp_path / "pki", URL)
    assert again.status(CaName.SIGNATURE, sig.serial)[1] is not None
    assert again.status(CaName.AUTHENTICATION, auth.serial) == (True, None)
    assert sig.serial in {r.serial_number for r in again.crl(CaName.SIGNATURE)}
    # the holder still finds its certificates after the restart
    done = again.apply_event(ResidentEvent(EventKind.DIED, "card-9", again.now()))
    assert [r.serial for r in done] == [auth.serial]
    again.close()


def _record(serial: int) -> CertRecord:
    return CertRecord(CaName.SIGNATURE, serial, "h", NOW, NOW + dt.timedelta(days=1))


def _entry(serial: int) -> bytes:
    """A line of the JSON-lines journal the ledger was kept in before (``ledger.jsonl``)."""
    e = {
        "op": "issue",
        "ca": "signature",
        "serial": f"{serial:x}",
        "holder": "h",
        "not_before": NOW.isoformat(),
        "not_after": (NOW + dt.timedelta(days=1)).isoformat(),
    }
    return json.dumps(e, separators=(",", ":")).encode() + b"\n"


def test_after_a_torn_write_the_ca_issues_again_and_restarts_with_every_entry(
    tmp_path: Path,
) -> None:
    """The old journal's failure: a line cut off by a crash was skipped on reopen, the next
    issuance appended onto it, and the following start refused (line 2 is not an entry)."""
    open_state(tmp_path / "pki", NOW)
    journal = tmp_path / "pki/ledger.jsonl"
    journal.write_bytes(_entry(7) + _entry(8)[:25])  # the writer killed mid-line
    ca = CertificationAuthority.open(tmp_path / "pki", URL)
    assert ca.status(CaName.SIGNATURE, 7) == (True, None)
    issued = ca.issue(CertKind.SIGNATURE, ec_key().public_key(), "card-9", CHIYODA, TARO)
    ca.close()
    again = CertificationAuthority.open(tmp_path / "pki", URL)  # the old journal stopped here
    assert again.status(CaName.SIGNATURE, 7) == (True, None)
    assert again.status(CaName.SIGNATURE, issued.serial) == (True, None)
    assert again.status(CaName.SIGNATURE, 8) == (False, None)  # never acknowledged
    again.close()
    assert not journal.exists() and (tmp_path / "pki/ledger.jsonl.imported").exists()


def test_a_journal_the_old_ledger_could_not_reopen_is_imported_whole(tmp_path: Path) -> None:
    journal = tmp_path / "ledger.jsonl"
    # entry 8 torn, entry 9 appended onto it, then 10 and a torn 11
    journal.write_bytes(_entry(7) + _entry(8)[:25] + _entry(9) + _entry(10) + _entry(11)[:40])
    ledger = Ledger(tmp_path / "ledger.sqlite3", journal=journal)
    assert [s for s in range(7, 12) if ledger.get(CaName.SIGNATURE, s)] == [7, 9, 10]
    ledger.close()
    again = Ledger(tmp_path / "ledger.sqlite3", journal=journal)  # imported once
    assert len(again) == 3
    again.close()


def test_garbage_in_the_old_journal_or_the_database_is_refused(tmp_path: Path) -> None:
    for bad in (b'{"op":"issue"}\n', b'{"op":"explode","ca":"root","serial":"1"}\n', b"x\n"):
        journal = tmp_path / "ledger.jsonl"
        journal.write_bytes(_entry(7) + bad + _entry(9))
        with pytest.raises(StateError, match="line 2"):
            Ledger(tmp_path / "ledger.sqlite3", journal=journal)
        assert journal.exists()  # nothing imported, nothing renamed
    (tmp_path / "other.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(StateError, match="not a ledger database"):
        Ledger(tmp_path / "other.sqlite3")


_WRITER = """
import datetime as dt, itertools, sys
from pathlib import Path
from pki.ca.ledger import CertRecord, Ledger, RequestRecord
from pki.profiles import CaName
ledger, now = Ledger(Path(sys.argv[1])), dt.datetime.now(dt.UTC)
for serial in itertools.count(int(sys.argv[2])):
    asked = RequestRecord(f"r{serial}", CaName.SIGNATURE, serial, "s")
    ledger.add(CertRecord(CaName.SIGNATURE, serial, "h", now, now), asked)
    print(serial, flush=True)  # acknowledged
"""


def test_a_writer_killed_mid_write_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    """SIGKILL while the writer is issuing (most of its time is in SQLite's write and fsync),
    three times; each time every acknowledged entry is there and the ledger takes more."""
    db = tmp_path / "ledger.sqlite3"
    acknowledged: set[int] = set()
    for start in (1, 1001, 2001):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(start)], stdout=subprocess.PIPE
        )
        assert writer.stdout is not None
        for _ in range(20):
            acknowledged.add(int(writer.stdout.readline()))
        writer.send_signal(signal.SIGKILL)
        acknowledged |= {int(line) for line in writer.stdout.read().split()}
        writer.wait()
        ledger = Ledger(db)
        maybe = acknowledged | {max(acknowledged) + 1}  # committed, killed before it said so
        found = {serial for serial in maybe if ledger.get(CaName.SIGNATURE, serial)}
        assert acknowledged <= found and len(ledger) == len(found)
        asked = {s for s in maybe if ledger.requested(f"r{s}")}  # with its certificate or not
        assert asked == found - {start + 900 for start in (1, 1001, 2001)}
        ledger.add(_record(start + 900))  # it takes more after the crash
        acknowledged |= {start + 900} | found
        ledger.close()
    final = Ledger(db)
    assert all(final.get(CaName.SIGNATURE, serial) for serial in acknowledged)
    assert len(final) == len(acknowledged)
    final.close()


def test_a_request_is_kept_with_its_certificate_or_not_at_all(tmp_path: Path) -> None:
    """The request's row and its certificate's commit together: a certificate row refused
    (its serial taken) leaves no request naming it, and a request row refused (its digest
    taken) leaves no certificate — then or after a restart."""
    db, now = tmp_path / "ledger.sqlite3", dt.datetime.now(dt.UTC)
    ledger = Ledger(db)
    first = RequestRecord("r1", CaName.SIGNATURE, 7, "s1")
    ledger.add(CertRecord(CaName.SIGNATURE, 7, "h", now, now), first)
    with pytest.raises(sqlite3.IntegrityError):
        ledger.add(
            CertRecord(CaName.SIGNATURE, 7, "h", now, now),
            RequestRecord("r2", CaName.SIGNATURE, 7, "s2"),
        )
    with pytest.raises(sqlite3.IntegrityError):  # the certificate's row went first
        ledger.add(
            CertRecord(CaName.SIGNATURE, 8, "h", now, now),
            RequestRecord("r1", CaName.SIGNATURE, 8, "s3"),
        )
    assert ledger.requested("r2") is None
    assert (ledger.get(CaName.SIGNATURE, 8), ledger.requested("r1")) == (None, first)
    ledger.close()
    again = Ledger(db)
    assert (again.requested("r1"), again.requested("r2"), len(again)) == (first, None, 1)
    assert again.get(CaName.SIGNATURE, 8) is None
    again.close()


def test_verifier_registration_rules() -> None:
    reg = VerifierRegistry()
    both = frozenset({CertKind.SIGNATURE, CertKind.AUTHENTICATION})
    v, key = reg.register("Example Bank", VerifierKind.PRIVATE, both, "MIC-2026-001", NOW)
    assert key.startswith(v.id + ".") and v.licence == "MIC-2026-001"
    assert reg.authenticate(f"Bearer {key}") == v
    with pytest.raises(Malformed, match="licence"):
        reg.register("No Licence Ltd", VerifierKind.PRIVATE, both, None, NOW)
    with pytest.raises(Malformed, match="licence"):
        reg.register("Bad Licence Ltd", VerifierKind.PRIVATE, both, "../../x", NOW)
    with pytest.raises(Malformed, match="public body"):
        reg.register("Chiyoda City", VerifierKind.PUBLIC, both, "L-1", NOW)
    with pytest.raises(Malformed, match="role"):
        reg.register("Chiyoda City", VerifierKind.PUBLIC, frozenset(), None, NOW)
    with pytest.raises(Malformed, match="name"):
        reg.register(" ", VerifierKind.PUBLIC, both, None, NOW)
    pub, _ = reg.register("Chiyoda City", VerifierKind.PUBLIC, both, None, NOW)
    assert pub.public()["licence"] is None and "key_hash" not in pub.public()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer v-000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer not-a-key",
        "Bearer " + "A" * 5000,
    ],
)
def test_verifier_authentication_refuses_anything_else(header: str | None) -> None:
    reg = VerifierRegistry()
    reg.register("Chiyoda City", VerifierKind.PUBLIC, frozenset({CertKind.SIGNATURE}), None, NOW)
    with pytest.raises(Unauthorized):
        reg.authenticate(header)


def test_wrong_secret_and_removed_verifiers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "verifiers.json"
    reg = VerifierRegistry(path)
    v, key = reg.register(
        "Example Bank", VerifierKind.PRIVATE, frozenset({CertKind.SIGNATURE}), "L-1", NOW
    )
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized):
        reg.authenticate(f"Bearer {forged}")
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())
    assert key.split(".")[1] not in path.read_text() and stored[0]["key_hash"]
    again = VerifierRegistry(path)
    assert again.authenticate(f"Bearer {key}").id == v.id
    again.remove(v.id)
    with pytest.raises(NotOnFile):
        again.remove(v.id)
    with pytest.raises(Unauthorized):
        VerifierRegistry(path).authenticate(f"Bearer {key}")
    path.write_text("{not json")
    with pytest.raises(StateError):
        VerifierRegistry(path)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"roles": []}, "roles"),
        ({"kind": "public"}, "a public body has no licence number"),
        ({"licence": "../../x"}, "licence"),
        ({"registered_at": "2026-01-01T09:00:00"}, "registered_at"),  # no time zone
        ({"key_hash": "not a hash"}, "key_hash"),
        ({"id": "admin"}, "id"),
        ({"name": ""}, "name"),
        ({"admin": True}, "admin"),
    ],
    ids=["no-role", "public-with-licence", "licence", "naive-time", "hash", "id", "name", "extra"],
)
def test_a_registry_file_is_held_to_the_rules_of_registration(
    tmp_path: Path, change: dict[str, object], where: str
) -> None:
    """What the registry reads back is checked as registration checks it (one declaration):
    an edited file cannot hold a verifier that registration would refuse."""
    path = tmp_path / "verifiers.json"
    VerifierRegistry(path).register(
        "Example Bank", VerifierKind.PRIVATE, frozenset({CertKind.SIGNATURE}), "L-1", NOW
    )
    stored = json.loads(path.read_text())
    path.write_text(json.dumps([stored[0] | change]))
    with pytest.raises(StateError, match=where):
        VerifierRegistry(path)
