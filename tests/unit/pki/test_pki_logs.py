"""The CA's log lines name what happened, never who: no holder, facts, serial or subject id."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from pki_helpers import TARO, issue_pair, make_ca
from structlog.testing import capture_logs

from pki import CertKind, EventKind, ResidentEvent, VerifierKind


def test_issuing_and_revoking_log_no_personal_data() -> None:
    ca = make_ca()
    with capture_logs() as logs:
        sig, auth = issue_pair(ca, holder="card-secret-77")
        ca.apply_event(ResidentEvent(EventKind.CARD_LOST, "card-secret-77", ca.now()))
        ca.crl_bytes(sig.ca, serialization.Encoding.DER)
    assert [e["event"] for e in logs] == [
        "certificate issued",
        "certificate issued",
        "certificate revoked",
        "certificate revoked",
        "resident event applied",
    ]
    text = repr(logs)
    for secret in (
        "card-secret-77",
        TARO.name,
        TARO.address,
        "1975",
        sig.subject_id,
        auth.subject_id,
    ):
        assert secret not in text
    for serial in (sig.serial, auth.serial):
        assert f"{serial:x}" not in text and str(serial) not in text


def test_ocsp_answers_log_nothing_about_the_request() -> None:
    from pki.relying.status import ocsp_request

    ca = make_ca()
    sig, _ = issue_pair(ca)
    v, _ = ca.verifiers.register(
        "Bank", VerifierKind.PUBLIC, frozenset({CertKind.SIGNATURE}), None, ca.now()
    )
    der, _ = ocsp_request(sig.certificate, ca.hierarchy.cas[sig.ca].cert)
    with capture_logs() as logs:
        ca.ocsp(der, verifier=v)
        ca.ocsp(b"garbage", verifier=None)
    assert logs == []
