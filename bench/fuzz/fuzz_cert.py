"""Certificates a relying party is handed (``pki.relying.verify``): a PEM bundle of trust
anchors, and a DER certificate: its path up to the JPKI roots and its four facts → PkiError
only."""

import contextlib
import datetime as dt

from fuzzlib import fuzz, instrumented

with instrumented():
    from pki import Hierarchy, PkiError
    from pki.cms import load_certificate
    from pki.facts import facts_from_certificate
    from pki.relying.verify import Trust, check_login_path, load_pem_bundle

TRUST = Trust.from_bundle(load_pem_bundle(Hierarchy.generate(dt.datetime.now(dt.UTC)).chain_pem()))


def one_input(data: bytes) -> None:
    if data[:1] == b"-":
        load_pem_bundle(data)
        return
    try:
        cert = load_certificate(data)  # as verify_login and jlis-pki load one
    except ValueError:
        return  # refused whole, before any check runs
    with contextlib.suppress(PkiError):
        check_login_path(cert, TRUST, dt.datetime.now(dt.UTC))
    facts_from_certificate(cert)  # the four facts a signature certificate carries


if __name__ == "__main__":
    fuzz(one_input, (PkiError,))
