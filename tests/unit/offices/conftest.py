"""The offices' shared fixture: J-LIS with one 千代田区 resident on record (``RRC``, ``KEPT``
of ``test_offices_register_desk``)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from test_offices_register_desk import KEPT, RRC

from agencies.jlis.numbers import NumberGenerator
from agencies.jlis.registry import Jlis
from hub.node import MemoryStore


@pytest.fixture
async def jlis() -> Jlis:
    j = Jlis(MemoryStore(), NumberGenerator(b"j" * 32), X25519PrivateKey.generate().public_key())
    await j.register({RRC: KEPT}, municipality="131016")
    return j
