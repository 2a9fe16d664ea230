"""The composition root's PKI glue for the portal: who signed an application (``cms_signer``),
and an unreadable one refused as the portal's ``portal.bad_signature`` without asking anyone;
an office's signature check from the CA's chain in the state directory (``signatures_on_disk``):
none without it, a corrupt one refused naming the file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pki_helpers import ec_key, issue_pair, make_ca

from pki import sign_document
from portal.exceptions import UnreadableSignature
from portal.office import PortalOffice
from renkei.exceptions import CommandError
from renkei.pki_checks import CHAIN, cms_signer, signatures_on_disk

DOC = b'{"kind": "moving"}'


def test_cms_signer_gives_the_signing_certificate() -> None:
    sig, _ = issue_pair(make_ca())
    signed = sign_document(DOC, sig.certificate, ec_key(0))
    assert cms_signer(signed) == sig.certificate.public_bytes(Encoding.DER)


@pytest.mark.parametrize("signed", [b"", b"not a signature", b"0\x82\x00\x00"])
def test_cms_signer_refuses_what_it_cannot_read(signed: bytes) -> None:
    with pytest.raises(UnreadableSignature):
        cms_signer(signed)


class _NoNetwork:
    """A node that must not be asked: an unreadable signature is refused before any query."""

    store = None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the portal asked the network ({name}) about an unreadable document")


async def test_an_unreadable_application_is_refused_and_kept() -> None:
    portal = PortalOffice(_NoNetwork(), SimpleNamespace(), SimpleNamespace(), cms_signer)  # type: ignore[arg-type]
    status = await portal.submit("resident-token", "moving", {}, b"not a signature")
    assert (status.status, status.office) == ("refused", "")
    assert status.detail.startswith("portal.bad_signature: ")
    assert [s.application_id for s in await portal.applications("resident-token")] == [
        status.application_id
    ]


def test_an_office_checks_signatures_against_the_chain_on_disk(tmp_path: Path) -> None:
    assert signatures_on_disk(tmp_path) is None  # the CA never ran: it takes no applications
    ca = make_ca()
    (tmp_path / CHAIN).parent.mkdir(parents=True)
    certs = [ca.hierarchy.root.cert, *(i.cert for i in ca.hierarchy.cas.values())]
    (tmp_path / CHAIN).write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    check = signatures_on_disk(tmp_path)
    assert check is not None and ca.hierarchy.root.cert in check.trust.roots


@pytest.mark.parametrize(
    "chain",
    [b"", b"not a pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
)
def test_a_corrupt_chain_stops_the_office_naming_the_file(tmp_path: Path, chain: bytes) -> None:
    (tmp_path / CHAIN).parent.mkdir(parents=True)
    (tmp_path / CHAIN).write_bytes(chain)
    with pytest.raises(CommandError, match=r"chain\.pem") as caught:
        signatures_on_disk(tmp_path)
    assert caught.value.code == "renkei.no_ca"
