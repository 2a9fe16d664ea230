"""The disclosure's page and filters, pure (``hub.routing.desks.portal``): an answer never
outgrows a seal, every record is on exactly one page, and a malformed filter is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hub.records import AccessRecord, MemoryRecordStore, RecordDraft
from hub.routing.desks.portal import DISCLOSED_MAX, JST, Filters, disclosure_filters, page
from hub.wire import SEALED_MAX_PLAIN, Refused, SealError, open_sealed, seal

T0 = dt.datetime(2024, 6, 3, 0, 30, tzinfo=dt.UTC)


async def records(n: int, items: int = 1) -> list[AccessRecord]:
    """``n`` records of one person, newest first, as the desk reads them."""
    store = MemoryRecordStore(signing_key=Ed25519PrivateKey.generate())
    await store.append(
        [
            RecordDraft(
                query_id=uuid.uuid4(),
                requester="chiyoda-child",
                provider="shinjuku-tax",
                affair="child_allowance",
                items=tuple(f"item_number_{k:02d}_{'x' * 30}" for k in range(items)),
                asked_at=T0 + dt.timedelta(seconds=i),
                answered_at=T0 + dt.timedelta(seconds=i, milliseconds=5),
                outcome="ok",
                query_digest=bytes(32),
                person="p" * 43,
            )
            for i in range(n)
        ]
    )
    return list(reversed(await store.for_person("p" * 43)))


@pytest.mark.parametrize("items", [1, 16])
async def test_a_page_fits_in_one_seal_whatever_the_records(items: int) -> None:
    newest = (await records(DISCLOSED_MAX, items))[:DISCLOSED_MAX]
    rows, older = page(newest, SEALED_MAX_PLAIN)
    body = orjson.dumps({"access_records": rows, "older": older})
    assert len(body) <= SEALED_MAX_PLAIN
    assert older == newest[len(rows) - 1].seq  # the next page starts after the last shown
    key = X25519PrivateKey.generate()
    assert open_sealed(seal(body, key.public_key()), key) == body


async def test_the_last_page_says_no_older() -> None:
    few = await records(5)
    rows, older = page(few, SEALED_MAX_PLAIN)
    assert [r["record_id"] for r in rows] == [str(r.record_id) for r in few] and older is None


@functools.cache
def _every() -> list[AccessRecord]:
    return asyncio.run(records(450))


@given(st.integers(min_value=600, max_value=20_000))
def test_paging_shows_every_record_once_in_order(budget: int) -> None:
    every = _every()  # newest first
    seen: list[str] = []
    before: int | None = None
    while True:
        window = [r for r in every if before is None or r.seq < before][:DISCLOSED_MAX]
        rows, before = page(window, budget)
        assert rows, "each page shows at least one record"
        seen += [str(r["record_id"]) for r in rows]
        if before is None:
            break
    assert seen == [str(r.record_id) for r in every]


def test_a_seal_refuses_more_than_it_holds() -> None:
    key = X25519PrivateKey.generate().public_key()
    assert len(seal(bytes(SEALED_MAX_PLAIN), key).ct) <= 48 * 1024
    with pytest.raises(SealError, match="exceed"):
        seal(bytes(SEALED_MAX_PLAIN + 1), key)


def test_the_filters_read_days_in_japan() -> None:
    f = disclosure_filters({"office": "shinjuku-tax", "since": "2024-06-03", "until": "2024-06-03"})
    assert f == Filters(
        office="shinjuku-tax",
        since=dt.datetime(2024, 6, 3, tzinfo=JST),
        until=dt.datetime(2024, 6, 4, tzinfo=JST),
    )
    assert disclosure_filters({"before": 7, "record_id": "x"}) == Filters(before=7)
    assert disclosure_filters({}) == Filters()


@pytest.mark.parametrize(
    "params",
    [
        {"before": 0},
        {"before": -5},
        {"before": "3"},
        {"since": "2024-02-30"},
        {"since": "20240603"},
        {"until": "2024-06-03T00:00"},
        {"until": 20240603},
        {"office": "../etc"},
        {"office": ""},
        {"office": "a" * 200},
        {"newest": 10},
    ],
)
def test_a_malformed_filter_is_refused(params: dict[str, str | int]) -> None:
    got = disclosure_filters(params)
    assert isinstance(got, Refused) and got.code == "hub.bad_disclosure"
