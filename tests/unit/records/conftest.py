"""Fixtures for the access-record unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.records import RecordDraft, digest

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)

DraftFactory = Callable[..., RecordDraft]


def make_draft(n: int = 0, **overrides: Any) -> RecordDraft:
    """A plausible draft; ``n`` varies the content."""
    fields: dict[str, Any] = {
        "query_id": uuid4(),
        "requester": f"welfare-{n % 3:02d}",
        "provider": f"municipality-{n % 5:02d}",
        "affair": "child_allowance.eligibility",
        "items": ("income", "household") if n % 2 else ("income",),
        "asked_at": T0 + timedelta(seconds=n),
        "answered_at": T0 + timedelta(seconds=n, milliseconds=3),
        "outcome": "ok",
        "person": f"person-{n % 4}",
        "query_digest": digest(f"query {n}".encode()),
        "reply_digest": digest(f"reply {n}".encode()),
    }
    fields.update(overrides)
    return RecordDraft(**fields)


@pytest.fixture(scope="session")
def draft() -> DraftFactory:
    return make_draft


@pytest.fixture(scope="session")
def hub_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
