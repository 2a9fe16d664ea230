"""Sealing an answer, wire version 1 against 2: the custom seal against HPKE (RFC 9180).

    .venv/bin/python bench/seal_bench.py [--n 3000] [--repeat 5] [--size 300]

Version 1 (still opened, no longer made): ephemeral X25519 in libsodium (PyNaCl), HKDF-SHA256
and ChaCha20-Poly1305 in ``cryptography``, the recipient's key as associated data; its sealing
is rebuilt here as ``hub.wire.crypto`` did it. Version 2: ``cryptography``'s HPKE suite
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (``hub.wire.seal``). Both
interleaved in one run, best of ``--repeat`` (the machines are shared); prints µs per seal, per
open and per seal + open, and the ratio version 2 / version 1.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl import bindings as sodium

from hub.wire import OfficeKeys, SealedV1, b64e, open_sealed, seal
from hub.wire.crypto import _key_v1

RAW, RAW_PUB = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def us_per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=300, help="bytes of the answer")
    args = parser.parse_args()

    answer = os.urandom(args.size)
    keys = OfficeKeys.generate()
    recipient = keys.public.seal
    rcpt = recipient.public_bytes(RAW, RAW_PUB)

    def seal_v1() -> SealedV1:  # hub.wire.crypto.seal of wire version 1
        eph = os.urandom(32)
        epk = sodium.crypto_scalarmult_base(eph)
        shared = sodium.crypto_scalarmult(eph, rcpt)
        nonce = os.urandom(12)
        ct = ChaCha20Poly1305(_key_v1(shared, epk, rcpt)).encrypt(nonce, answer, rcpt)
        return SealedV1(epk=b64e(epk), nonce=b64e(nonce), ct=b64e(ct))

    sealed_v1, sealed_v2 = seal_v1(), seal(answer, recipient)
    assert open_sealed(sealed_v1, keys.sealing) == open_sealed(sealed_v2, keys.sealing) == answer

    rows: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "seal": (seal_v1, lambda: seal(answer, recipient)),
        "open": (
            lambda: open_sealed(sealed_v1, keys.sealing),
            lambda: open_sealed(sealed_v2, keys.sealing),
        ),
        "seal + open": (
            lambda: open_sealed(seal_v1(), keys.sealing),
            lambda: open_sealed(seal(answer, recipient), keys.sealing),
        ),
    }
    print(f"{args.size}-byte answer, best of {args.repeat} × {args.n}")
    print(f"{'operation':14} {'v1 µs':>8} {'v2 HPKE µs':>11} {'v2/v1':>6}")
    for name, (old, new) in rows.items():
        times_old, times_new = [], []
        for _ in range(args.repeat):  # interleaved: a busy moment slows both alike
            times_old.append(us_per_call(old, args.n))
            times_new.append(us_per_call(new, args.n))
        o, w = min(times_old), min(times_new)
        print(f"{name:14} {o:8.1f} {w:11.1f} {w / o:6.2f}")


if __name__ == "__main__":
    main()
