"""The per-message signatures of hub.wire, against OpenSSL (``cryptography``) doing the same.

    .venv/bin/python bench/crypto_bench.py [--n 3000] [--repeat 5]

Each query costs four Ed25519 verifications and four signatures (requester, hub twice,
provider). ``hub.wire.crypto`` runs them in libsodium (PyNaCl); the baseline is the same
operation through ``cryptography``'s OpenSSL keys, timed interleaved in the same run, best of
``--repeat`` (the machines are shared). Prints µs per operation and the ratio wire / OpenSSL.
The seal and open of the answer (HPKE through ``cryptography`` since wire version 2) are timed
against version 1's by ``bench/seal_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.wire import OfficeKeys, sign, verify

BODY = os.urandom(1500)  # about a forwarded query


def best_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    keys = OfficeKeys.generate()
    signature = sign(BODY, keys.signing)
    ossl_key = Ed25519PrivateKey.generate()
    ossl_pub, ossl_sig = ossl_key.public_key(), ossl_key.sign(BODY)

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "Ed25519 verify": (
            lambda: verify(BODY, signature, keys.public.verify),
            lambda: ossl_pub.verify(ossl_sig, BODY),
        ),
        "Ed25519 sign": (lambda: sign(BODY, keys.signing), lambda: ossl_key.sign(BODY)),
    }
    print(f"{'operation':40} {'wire µs':>9} {'OpenSSL µs':>11} {'ratio':>6}")
    for name, (wire, ossl) in pairs.items():
        w = min(best_us(wire, args.n) for _ in range(args.repeat))
        o = min(best_us(ossl, args.n) for _ in range(args.repeat))
        print(f"{name:40} {w:9.1f} {o:11.1f} {w / o:6.2f}")


if __name__ == "__main__":
    main()
