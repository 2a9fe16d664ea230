"""The per-message crypto of hub.wire: signatures against OpenSSL, the seal against its old self.

    .venv/bin/python bench/crypto_bench.py [--n 3000] [--repeat 5]

Each query costs four Ed25519 verifications and four signatures (requester, hub twice,
provider), and one seal and one open of the answer (300 bytes here).

- Signatures: ``hub.wire.crypto`` runs them in libsodium (PyNaCl); the baseline is the same
  operation through ``cryptography``'s OpenSSL keys.
- Sealing: wire version 2 (HPKE, RFC 9180, through ``cryptography``: DHKEM(X25519,
  HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) against version 1, which it replaced
  (ephemeral X25519 in libsodium, HKDF-SHA256 and ChaCha20-Poly1305 in ``cryptography``, the
  recipient's key as associated data; its sealing is rebuilt here as ``hub.wire.crypto`` did
  it, its opening is still ``open_sealed``'s).

Each pair is timed in CPU time of this process, interleaved in the same run, best of
``--repeat`` (the machines are shared). Prints µs per operation and the ratio of the first
column to the second.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl import bindings as sodium

from hub.wire import OfficeKeys, SealedV1, b64e, open_sealed, seal, sign, verify
from hub.wire.crypto import _key_v1

BODY = os.urandom(1500)  # about a forwarded query
ANSWER = os.urandom(300)

Pairs = dict[str, tuple[Callable[[], object], Callable[[], object]]]


def best_us(fn: Callable[[], object], n: int) -> float:
    """µs of this process's CPU per call: time spent waiting for a core (the machines are
    shared) is not counted."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def table(title: tuple[str, str], pairs: Pairs, n: int, repeat: int) -> None:
    print(f"{'operation':30} {title[0]:>12} {title[1]:>12} {'ratio':>6}")
    for name, (first, second) in pairs.items():
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeat):  # interleaved: a busy moment slows both alike
            times[0].append(best_us(first, n))
            times[1].append(best_us(second, n))
        a, b = min(times[0]), min(times[1])
        print(f"{name:30} {a:12.1f} {b:12.1f} {a / b:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    keys = OfficeKeys.generate()
    signature = sign(BODY, keys.signing)
    ossl_key = Ed25519PrivateKey.generate()
    ossl_pub, ossl_sig = ossl_key.public_key(), ossl_key.sign(BODY)
    recipient = keys.public.seal
    rcpt = recipient.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def seal_v1() -> SealedV1:  # hub.wire.crypto.seal of wire version 1
        eph = os.urandom(32)
        epk = sodium.crypto_scalarmult_base(eph)
        shared = sodium.crypto_scalarmult(eph, rcpt)
        nonce = os.urandom(12)
        ct = ChaCha20Poly1305(_key_v1(shared, epk, rcpt)).encrypt(nonce, ANSWER, rcpt)
        return SealedV1(epk=b64e(epk), nonce=b64e(nonce), ct=b64e(ct))

    sealed_v1, sealed_v2 = seal_v1(), seal(ANSWER, recipient)
    assert open_sealed(sealed_v1, keys.sealing) == open_sealed(sealed_v2, keys.sealing) == ANSWER

    signatures: Pairs = {
        "Ed25519 verify": (
            lambda: verify(BODY, signature, keys.public.verify),
            lambda: ossl_pub.verify(ossl_sig, BODY),
        ),
        "Ed25519 sign": (lambda: sign(BODY, keys.signing), lambda: ossl_key.sign(BODY)),
    }
    seals: Pairs = {
        "seal an answer": (lambda: seal(ANSWER, recipient), seal_v1),
        "open it": (
            lambda: open_sealed(sealed_v2, keys.sealing),
            lambda: open_sealed(sealed_v1, keys.sealing),
        ),
        "seal + open": (
            lambda: open_sealed(seal(ANSWER, recipient), keys.sealing),
            lambda: open_sealed(seal_v1(), keys.sealing),
        ),
    }
    print(f"best of {args.repeat} × {args.n}, µs per operation")
    table(("wire", "OpenSSL"), signatures, args.n, args.repeat)
    table(("v2 HPKE", "v1"), seals, args.n, args.repeat)


if __name__ == "__main__":
    main()
