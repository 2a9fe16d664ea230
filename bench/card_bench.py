#!/usr/bin/env python3
"""APDU round trips through the real PC/SC stack, each beside a baseline from the same run.

    .venv/bin/python bench/card_bench.py            # about half a minute
    .venv/bin/python bench/card_bench.py --quick    # smoke run

pyscard (this process) → pcscd → vpcd → a card in its own process (slot 0, port 35963):

1. floor: a bare vpcd card that answers ``90 00`` to everything (TCP_QUICKACK re-armed) —
   what the stack itself costs;
2. the emulator (``VpcdLink`` + ``PersistentCard`` + ``Card`` over an issued card state):
   SELECT, READ BINARY of 256 bytes, the PIN tries query, and a signature (RSA-2048 CRT);
3. the same emulator without TCP_QUICKACK (vpcd's two-segment writes meet delayed ACKs);
4. in-process: the same APDUs straight into ``Card.process`` (no I/O at all).

Medians over ``--n`` APDUs, best of ``--repeat`` runs. Needs pcscd running and the slot free.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import percentiles
from cryptography.hazmat.primitives import serialization

from card_service import (
    ATR,
    Card,
    CardStore,
    LocalTransport,
    Pins,
    Resident,
    StateKey,
    VpcdLink,
    issue_to_file,
)
from card_service.reader.jpki import digest_info
from card_service.reader.pcsc import PcscTransport, card_present, wait_for_card
from hub.log import configure
from pki import (
    CaName,
    CertificationAuthority,
    CertKind,
    Endpoints,
    Hierarchy,
    Locality,
    ResidentFacts,
    Sex,
)

READER = "Virtual PCD 00 00"
SELECT = bytes.fromhex("00A4040C0AD392F000260100000001")
SELECT_CERT = bytes.fromhex("00A4020C02000A")
READ = bytes.fromhex("00B0000000")
SELECT_PIN = bytes.fromhex("00A4020C020018")
TRIES = bytes.fromhex("00200080")
VERIFY = bytes.fromhex("002000800431323334")
SELECT_KEY = bytes.fromhex("00A4020C020017")
SIGN = bytes.fromhex("802A008033") + digest_info(b"x") + b"\x00"


class _Ca:
    def __init__(self) -> None:
        self.h = Hierarchy.generate(dt.datetime.now(dt.UTC))
        self.ca = CertificationAuthority(
            self.h, holder_key=b"k" * 32, endpoints=Endpoints("http://127.0.0.1:9")
        )

    async def issue(self, kind: str, public_key_pem: str, **kw: object) -> bytes:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        where = Locality(str(kw["prefecture"]), str(kw["municipality"]))
        facts = None
        if kw["facts"]:
            f = kw["facts"]
            assert isinstance(f, dict)
            facts = ResidentFacts(
                f["name"], f["address"], dt.date.fromisoformat(f["birth_date"]), Sex(f["sex"])
            )
        issued = self.ca.issue(CertKind(kind), key, str(kw["holder"]), where, facts)  # type: ignore[arg-type]
        return issued.certificate.public_bytes(serialization.Encoding.DER)

    async def ca_certificate(self, kind: str) -> bytes:
        return self.h.issuer(CaName(kind)).cert.public_bytes(serialization.Encoding.DER)


def make_card(path: Path) -> None:
    resident = Resident.model_validate(
        {
            "number": "123456789018",
            "name": "番号 花子",
            "address": "東京都千代田区霞が関二丁目1番2号",
            "birth_date": dt.date(1985, 6, 15),
            "sex": "2",
            "prefecture": "Tokyo-to",
            "municipality": "Chiyoda-ku",
        }
    )
    pins = Pins(auth="1234", sign="ABC123", face="5678")
    asyncio.run(issue_to_file(path, StateKey.beside(path), resident, pins, _Ca()))  # type: ignore[arg-type]


def bare_card(stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    s = socket.create_connection(("127.0.0.1", 35963))
    s.settimeout(0.5)

    def recv(n: int) -> bytes:
        b = b""
        while len(b) < n:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            try:
                c = s.recv(n - len(b))
            except TimeoutError:
                if stop.is_set():
                    raise SystemExit(0) from None
                continue
            if not c:
                raise SystemExit(0)
            b += c
        return b

    while True:
        (n,) = struct.unpack(">H", recv(2))
        p = recv(n)
        if len(p) == 1:
            if p[0] == 4:
                s.sendall(struct.pack(">H", len(ATR)) + ATR)
            continue
        s.sendall(b"\x00\x02\x90\x00")


def emulator(path: str, quickack: bool, stop: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    local = LocalTransport.open(Path(path), StateKey.beside(Path(path)))
    link = VpcdLink(local.card, quickack=quickack)
    link.connect()
    threading.Thread(target=lambda: (stop.wait(), link.stop()), daemon=True).start()
    link.serve()
    local.close()


def median_ms(send: Callable[[bytes], bytes], setup: list[bytes], apdu: bytes, n: int) -> float:
    for a in setup:
        send(a)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        send(apdu)
        lat.append(time.perf_counter() - t)
    p50 = percentiles(lat)["p50_ms"]
    assert p50 is not None
    return p50


def through_pcsc(
    target: Callable[..., None],
    args: tuple[object, ...],
    runs: dict[str, tuple[list[bytes], bytes, int]],
) -> dict[str, float]:
    stop = mp.Event()
    proc = mp.Process(target=target, args=(*args, stop), daemon=True)
    proc.start()
    try:
        assert wait_for_card(READER, 15), "no card appeared"
        t = PcscTransport.connect(READER)
        try:
            return {
                name: median_ms(t.transmit, setup, apdu, n)
                for name, (setup, apdu, n) in runs.items()
            }
        finally:
            t.close()
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
        wait_for_card(READER, 10, present=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    configure(level="warning", json=False)
    n, repeat = (50, 1) if a.quick else (a.n, a.repeat)
    if card_present(READER):
        raise SystemExit(f"a card is already in {READER}")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "card.state"
        make_card(path)
        runs = {
            "select": ([], SELECT, n),
            "read 256": ([SELECT, SELECT_CERT], READ, n),
            "tries query": ([SELECT, SELECT_PIN], TRIES, n),
            "sign": ([SELECT, SELECT_PIN, VERIFY, SELECT_KEY], SIGN, max(20, n // 10)),
        }
        best: dict[str, float] = {}

        def keep(prefix: str, got: dict[str, float]) -> None:
            for k, v in got.items():
                best[f"{prefix} {k}"] = min(v, best.get(f"{prefix} {k}", float("inf")))

        for _ in range(repeat):
            keep("floor (bare card)", through_pcsc(bare_card, (), {"select": ([], SELECT, n)}))
            keep("emulator", through_pcsc(emulator, (str(path), True), runs))
            slow = {"select": ([], SELECT, max(10, n // 25))}
            keep("emulator, no QUICKACK", through_pcsc(emulator, (str(path), False), slow))
        store, state = CardStore.open(path, StateKey.beside(path))
        store.close()
        card = Card(state)
        for name, (setup, apdu, count) in runs.items():
            card.reset()
            best[f"in-process {name}"] = median_ms(card.process, setup, apdu, count)
    width = max(map(len, best))
    for k, v in best.items():
        print(f"{k:<{width}}  median {v:8.3f} ms")
    floor = best["floor (bare card) select"]
    print(
        json.dumps(
            {
                "emulator_select_over_floor": round(best["emulator select"] / floor, 2),
                "no_quickack_over_quickack": round(
                    best["emulator, no QUICKACK select"] / best["emulator select"], 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
