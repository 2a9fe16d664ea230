"""OCSP requests to the CA's responder (``pki.ca.ocsp``): any bytes get a DER OCSP response
(unsuccessful when the request is not one), never an exception."""

import datetime as dt

from fuzzlib import fuzz, instrumented

with instrumented():
    from cryptography.x509 import ocsp

    from pki import Hierarchy
    from pki.ca.ocsp import OcspResponder

RESPONDER = OcspResponder(
    Hierarchy.generate(dt.datetime.now(dt.UTC)), lambda *_: (True, None), dt.timedelta(hours=1)
)


def one_input(data: bytes) -> None:
    parsed = RESPONDER.parse(data)
    out = (
        parsed if isinstance(parsed, bytes) else RESPONDER.respond(parsed, dt.datetime.now(dt.UTC))
    )
    ocsp.load_der_ocsp_response(out)


if __name__ == "__main__":
    fuzz(one_input, ())
