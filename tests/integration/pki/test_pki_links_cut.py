"""J-LIS's link from a certificate it issued to the holder's token (``pki/ca/office.py``) when
PostgreSQL cuts the session writing it (as a restart of PostgreSQL does): the link is written
again until it is, each failure logged, and a login with the certificate finds its resident.
Before: the link was written once, in a task whose failure nobody read, and was lost for good —
that card's every login got "the certificate is linked to no resident"."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pg_env import fresh_pool, writes_held
from structlog.testing import capture_logs

from hub.node import MemoryStore, PgStore, schema_for
from hub.wire import Identified
from pki import CertificationAuthority, CertKind, Endpoints, Hierarchy, Locality
from pki.ca.office import PKI_OFFICE, CaListener, holder_for

pytestmark = pytest.mark.postgres
WHERE = Locality("Tokyo-to", "Chiyoda-ku")
TOKEN = "t0ken-of-jlis-pki-for-hanako"  # (a token's shape)


def make_ca() -> CertificationAuthority:
    return CertificationAuthority(
        Hierarchy.generate(dt.datetime.now(dt.UTC)),
        holder_key=b"k" * 32,
        endpoints=Endpoints("http://127.0.0.1:9"),
    )


@pytest.fixture
async def pool() -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with fresh_pool("renkei_pki_links") as found:
        yield found


async def test_a_link_whose_write_is_cut_is_written_again(
    pool: tuple[str, asyncpg.Pool],
) -> None:
    dsn, conns = pool
    store = PgStore(conns, PKI_OFFICE)
    await store.migrate()
    ca = make_ca()
    listener = CaListener(ca, store, retry=0.01)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with capture_logs() as logs:
        async with writes_held(dsn, f"{schema_for(PKI_OFFICE)}.docs") as cut:
            issued = ca.issue(CertKind.AUTHENTICATION, key, holder_for(TOKEN), WHERE)
            assert await cut() == 1  # the link's write, cut under way
        await listener.close()  # (waits for the links being written)
    # J-LIS started again: what it knows of the link is what its store holds
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert await CaListener(ca, store).identify(der) == Identified(token=TOKEN)
    assert [e["log_level"] for e in logs if e["event"] == "pki.link_unwritten"] == ["warning"]


class DownStore(MemoryStore):
    async def put_many(self, collection: str, rows: Iterable[tuple[str, str | None, Any]]) -> int:
        raise OSError("connection refused")


async def test_a_link_still_unwritten_at_close_is_said_lost() -> None:
    """The store down for good: closing waits ``retry_max`` (each write tried once more), not
    for ever, and the error line says how many links were lost; until then, the link held in
    memory identified its resident."""
    ca = make_ca()
    listener = CaListener(ca, DownStore(), retry=0.01, retry_max=0.05)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    issued = ca.issue(CertKind.AUTHENTICATION, key, holder_for(TOKEN), WHERE)
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    assert await listener.identify(der) == Identified(token=TOKEN)
    with capture_logs() as logs:
        await listener.close()
    lost = [e for e in logs if e["event"] == "pki.links_lost"]
    assert [(e["log_level"], e["links"]) for e in lost] == [("error", 1)]
    assert not listener._writes
