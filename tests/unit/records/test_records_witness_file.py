"""The witness file: its lines, the newest heads, clear errors, and a failed write that loses
no record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from hub.records import (
    WITNESS_FILE,
    FileWitness,
    MemoryRecordStore,
    RecordDraft,
    WitnessError,
    read_witness,
    sign_checkpoint,
    verify_store,
)
from hub.records.checkpoints import checkpoint_valid
from hub.records.witness import newest_heads, parse_line, witness_line

DraftFactory = Callable[..., RecordDraft]


def test_a_line_is_a_checkpoint_anyone_can_check(hub_key: Ed25519PrivateKey) -> None:
    cp = sign_checkpoint(hub_key, 42, bytes(range(32)), flag_head=(3, bytes(32)))
    line = witness_line(cp)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["seq"] == 42
    back = parse_line(line)
    assert back == cp
    assert checkpoint_valid(back, hub_key.public_key())


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b'{"seq": 1}',
        b'{"seq":-1,"hash":"00","signed_at":"2024-06-03T09:00:00+00:00","flag_seq":0,'
        b'"flag_hash":"00","signature":"00"}',
        b'{"seq":1,"hash":"zz","signed_at":"2024-06-03T09:00:00+00:00","flag_seq":0,'
        b'"flag_hash":"00","signature":"00"}',
        b'{"seq":1,"hash":"00","signed_at":"2024-06-03T09:00:00","flag_seq":0,'
        b'"flag_hash":"00","signature":"00"}',
        b'{"seq":true,"hash":"00","signed_at":"2024-06-03T09:00:00+00:00","flag_seq":0,'
        b'"flag_hash":"00","signature":"00"}',
        b"[1, 2]",
    ],
)
def test_a_line_that_is_not_a_checkpoint_is_named(line: bytes) -> None:
    with pytest.raises(WitnessError, match="somewhere line 3 is not a checkpoint") as err:
        parse_line(line, "somewhere line 3")
    assert err.value.code == "records.witness"


def test_the_newest_heads(hub_key: Ed25519PrivateKey) -> None:
    h = bytes(32)
    a = sign_checkpoint(hub_key, 5, h)
    b = sign_checkpoint(hub_key, 9, h)
    c = sign_checkpoint(hub_key, 7, h, flag_head=(2, h))
    assert newest_heads([]) == []
    assert newest_heads([a, b]) == [b]
    assert newest_heads([a, c, b]) == [b, c]  # the newest of each log
    d = sign_checkpoint(hub_key, 9, h, flag_head=(2, h))
    assert newest_heads([a, c, b, d]) == [d]


async def test_a_store_writes_what_it_signs_and_verify_reads_it_back(
    hub_key: Ed25519PrivateKey, draft: DraftFactory, tmp_path: Path
) -> None:
    path = tmp_path / "witness" / WITNESS_FILE
    witness = FileWitness(path)
    store = MemoryRecordStore(signing_key=hub_key, checkpoint_every=4, witness=witness)
    await store.append([draft(i) for i in range(3)])
    await store.append([draft(i) for i in range(3, 5)])
    await witness.close()
    await store.append([draft(5)])  # a closed witness opens its file again
    await witness.close()
    assert [parse_line(x).seq for x in path.read_bytes().splitlines()] == [3, 5, 4, 6]
    heads = read_witness(path)
    assert [h.seq for h in heads] == [6]
    assert (await verify_store(store, hub_key.public_key(), witnessed=heads)).ok
    store._records.pop()  # the newest record gone, seal and all
    report = await verify_store(store, hub_key.public_key(), witnessed=heads)
    assert (report.records.problem, report.records.first_bad_seq) == ("truncated", 6)


def test_reading_a_witness_says_what_is_wrong(tmp_path: Path, hub_key: Ed25519PrivateKey) -> None:
    with pytest.raises(WitnessError, match="cannot read the witness"):
        read_witness(tmp_path / "absent")
    path = tmp_path / WITNESS_FILE
    good = witness_line(sign_checkpoint(hub_key, 1, bytes(32)))
    path.write_bytes(good + b"\n" + good[:20])  # a torn last line
    with pytest.raises(WitnessError, match=f"{path} line 3 is not a checkpoint"):
        read_witness(path)
    path.write_bytes(b"")
    assert read_witness(path) == []


async def test_a_failed_witness_write_is_logged_and_loses_no_record(
    hub_key: Ed25519PrivateKey, draft: DraftFactory, tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path)  # a directory: every write fails
    store = MemoryRecordStore(signing_key=hub_key, witness=witness)
    with capture_logs() as logs:
        assert await store.append([draft(1)]) == [True]
    assert [(e["event"], e["log_level"]) for e in logs] == [("records.witness_failed", "error")]
    assert "Is a directory" in logs[0]["error"]
    assert await store.count() == 1
