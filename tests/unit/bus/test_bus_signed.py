"""One way to make a signed outgoing message: every publisher's message carries the signature,
its envelope's ids and ``traceparent``, and the JSON content type."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from hub.bus import CONTENT_TYPE, TRACEPARENT_HEADER, signed_message
from hub.directory import MemoryDirectory
from hub.routing.announce import Announcer, Sighting
from hub.wire import (
    HUB,
    SIGNATURE_HEADER,
    Envelope,
    Notice,
    OfficeKeys,
    decode,
    new_traceparent,
    seal,
    verify,
)
from tests.unit.router.desk_fakes import HUB_KEYS, NOW, FakeBus, FakeTokens, context

KEYS = OfficeKeys.from_seed(bytes(64))


def notice() -> Notice:
    env = Envelope(
        message_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        sender="chiyoda-child",
        recipient="myna-portal",
        affair="child_allowance",
        issued_at=NOW,
        deadline=NOW + dt.timedelta(seconds=10),
        traceparent=new_traceparent(),
    )
    return Notice(envelope=env, person="p" * 20, body=seal(b"{}", KEYS.public.seal))


def test_a_signed_message_carries_signature_ids_trace_and_type() -> None:
    msg = notice()
    out = signed_message(msg, KEYS.signing, expiration_ms=1500)
    verify(out.body, out.headers[SIGNATURE_HEADER], KEYS.public.verify)
    assert decode(out.body) == msg
    assert out.message_id == str(msg.envelope.message_id)
    assert out.correlation_id == str(msg.envelope.correlation_id)
    assert out.headers[TRACEPARENT_HEADER] == msg.envelope.traceparent
    assert (out.content_type, out.expiration_ms) == (CONTENT_TYPE, 1500)


async def test_an_access_alert_carries_the_query_trace() -> None:
    """The announcer built its publish by hand and dropped the ``traceparent``."""
    bus, directory = FakeBus(), MemoryDirectory()
    portal = "myna-portal"
    ctx = dataclasses.replace(
        context("query", "chiyoda-child", "chiyoda-tax", "child_allowance", ("local_tax",)),
        person="p1".ljust(20, "x"),
    )
    await directory.enrolled(ctx.person, portal, NOW)
    announcer = Announcer(
        bus=bus,  # type: ignore[arg-type]
        portals=(portal,),
        directory=directory,
        tokens=FakeTokens(),  # type: ignore[arg-type]
        hub_keys=HUB_KEYS,
        clock=lambda: NOW,
    )
    announcer.note(Sighting(ctx, "ok", uuid.uuid4(), NOW))
    await announcer.close()
    [(exchange, key, out)] = bus.published
    assert (exchange, key) == ("renkei.offices", f"office.{portal}.in")
    assert out.headers[TRACEPARENT_HEADER] == ctx.traceparent
    verify(out.body, out.headers[SIGNATURE_HEADER], HUB_KEYS.public.verify)
    assert decode(out.body).envelope.sender == HUB
