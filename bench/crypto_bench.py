"""The per-message crypto of hub.wire, against OpenSSL (``cryptography``) doing the same.

    .venv/bin/python bench/crypto_bench.py [--n 3000] [--repeat 5]

Each query costs four Ed25519 verifications and four signatures (requester, hub twice,
provider) and one seal and one open (X25519 + HKDF + ChaCha20-Poly1305) of the answer.
``hub.wire.crypto`` runs them in libsodium (PyNaCl); the baseline is the same operation through
``cryptography``'s OpenSSL keys, timed interleaved in the same run, best of ``--repeat`` (the
machines are shared). Prints µs per operation and the ratio wire / OpenSSL.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from hub.wire import OfficeKeys, Sealed, b64d, b64e, open_sealed, seal, sign, verify
from hub.wire.crypto import _key

RAW, RAW_PUB = serialization.Encoding.Raw, serialization.PublicFormat.Raw

BODY = os.urandom(1500)  # about a forwarded query
ANSWER = os.urandom(300)


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
    sealed = seal(ANSWER, keys.public.seal)
    ossl_key = Ed25519PrivateKey.generate()
    ossl_pub, ossl_sig = ossl_key.public_key(), ossl_key.sign(BODY)
    x_priv, x_pub = keys.sealing, keys.public.seal
    rcpt = x_pub.public_bytes(RAW, RAW_PUB)

    def ossl_seal() -> Sealed:  # the same construction, every step through OpenSSL
        eph = X25519PrivateKey.generate()
        epk = eph.public_key().public_bytes(RAW, RAW_PUB)
        nonce = os.urandom(12)
        aead = ChaCha20Poly1305(_key(eph.exchange(x_pub), epk, rcpt))
        return Sealed(epk=b64e(epk), nonce=b64e(nonce), ct=b64e(aead.encrypt(nonce, ANSWER, rcpt)))

    def ossl_open() -> bytes:
        epk = b64d(sealed.epk)
        shared = x_priv.exchange(X25519PublicKey.from_public_bytes(epk))
        own = x_priv.public_key().public_bytes(RAW, RAW_PUB)
        aead = ChaCha20Poly1305(_key(shared, epk, own))
        return aead.decrypt(b64d(sealed.nonce), b64d(sealed.ct), own)

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "Ed25519 verify": (
            lambda: verify(BODY, signature, keys.public.verify),
            lambda: ossl_pub.verify(ossl_sig, BODY),
        ),
        "Ed25519 sign": (lambda: sign(BODY, keys.signing), lambda: ossl_key.sign(BODY)),
        "seal an answer": (lambda: seal(ANSWER, keys.public.seal), ossl_seal),
        "open an answer": (lambda: open_sealed(sealed, keys.sealing), ossl_open),
    }
    print(f"{'operation':40} {'wire µs':>9} {'OpenSSL µs':>11} {'ratio':>6}")
    for name, (wire, ossl) in pairs.items():
        w = min(best_us(wire, args.n) for _ in range(args.repeat))
        o = min(best_us(ossl, args.n) for _ in range(args.repeat))
        print(f"{name:40} {w:9.1f} {o:11.1f} {w / o:6.2f}")


if __name__ == "__main__":
    main()
