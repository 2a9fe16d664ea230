"""住基ネット's broker topology as plain data: a network of its own, apart from the
information-provision network (``hub/bus/README.md``, "住基ネット").

Pure: no I/O. It lives in a vhost of its own (the deployment's vhost + :data:`JUKI_VHOST_SUFFIX`)
with broker users of its own (``juki-<office>``, each with its own password): an office of the
provision network has no permission there at all, and a 住基ネット user none on the provision
network. Municipal registers (their 既存住基 through the CS) publish 異動等情報 and number
requests to :data:`JUKI_IN`, which only J-LIS's queue reads; J-LIS alone writes
:data:`JUKI_OUT`, which carries its answers to each register's own reply queue. The dead
letters of the vhost go to its own ``renkei.dead``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from hub.bus.topology import (
    DEAD_QUEUE,
    DLX_EXCHANGE,
    ArgValue,
    Binding,
    Exchange,
    Permission,
    Policy,
    Queue,
    Topology,
    UserLimits,
    validate_office_code,
)

__all__ = [
    "JUKI_IN",
    "JUKI_JLIS",
    "JUKI_MAX_BYTES",
    "JUKI_OUT",
    "JUKI_PREFIX",
    "JUKI_VHOST_SUFFIX",
    "juki_identity",
    "juki_notices",
    "juki_office",
    "juki_replies",
    "juki_topology",
]

JUKI_VHOST_SUFFIX: Final = "-juki"
JUKI_PREFIX: Final = "juki-"  # a 住基ネット broker identity: juki-<office code>
JUKI_IN: Final = "juki.in"  # registers → J-LIS
JUKI_OUT: Final = "juki.out"  # J-LIS → a register's replies
JUKI_JLIS: Final = "juki.jlis"  # J-LIS's queue: 異動等情報 and number requests
JUKI_MAX_BYTES: Final = 8192
"""A message of 住基ネット is at most this long: one resident's four facts and an event's
metadata fit many times; J-LIS refuses a longer one (``juki.oversized``) and keeps a dead letter."""
_REPLIES_MAX_LENGTH: Final = 10_000


def juki_identity(office: str) -> str:
    """The broker identity of ``office`` on 住基ネット (its own user, its own password)."""
    return f"{JUKI_PREFIX}{office}"


def juki_office(identity: str | None) -> str | None:
    """The office code of a broker-vouched 住基ネット identity, or None."""
    if identity is None or not identity.startswith(JUKI_PREFIX):
        return None
    return identity[len(JUKI_PREFIX) :]


def juki_replies(office: str) -> str:
    """A register's reply queue (and its routing key on :data:`JUKI_OUT`)."""
    return f"juki.{office}.replies"


def juki_notices(ca: str) -> str:
    """The CA's queue of J-LIS's 異動等失効情報 (and its routing key on :data:`JUKI_OUT`)."""
    return f"juki.{ca}.notices"


def juki_topology(
    registers: Iterable[str],
    *,
    jlis: str = "jlis",
    ca: str | None = None,
    identity_prefix: str = "",
    delivery_limit: int = 5,
) -> Topology:
    """住基ネット: the registers (by office code) and J-LIS.

    Who may do what (the broker enforces it; ``user_id`` is checked by the broker):

    | identity | writes | reads |
    |---|---|---|
    | ``juki-<register>`` | ``juki.in`` | ``juki.<register>.replies`` |
    | ``juki-jlis`` | ``juki.out`` | ``juki.jlis`` |
    | ``juki-<ca>`` | (nothing) | ``juki.<ca>.notices`` |

    (each may also write ``renkei.dlx``, to dead-letter what it refuses).
    """
    codes = tuple(validate_office_code(c) for c in registers)
    if jlis in codes:
        raise ValueError("J-LIS and the registers are distinct offices")
    if ca is not None and (validate_office_code(ca) in codes or ca == jlis):
        raise ValueError("the CA, J-LIS and the registers are distinct offices")
    p = identity_prefix
    work: dict[str, ArgValue] = {
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DLX_EXCHANGE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    exchanges = (
        Exchange(JUKI_IN, "direct"),
        Exchange(JUKI_OUT, "direct"),
        Exchange(DLX_EXCHANGE, "fanout"),
    )
    queues = [Queue(JUKI_JLIS, arguments=dict(work)), Queue(DEAD_QUEUE)]
    bindings = [Binding(JUKI_IN, JUKI_JLIS, JUKI_JLIS), Binding(DLX_EXCHANGE, DEAD_QUEUE, "")]
    dlx = r"renkei\.dlx"
    permissions = [
        Permission(
            f"{p}{juki_identity(jlis)}",
            configure="^$",
            write=rf"^(juki\.out|{dlx})$",
            read=r"^juki\.jlis$",
        )
    ]
    for code in codes:
        name = juki_replies(code)
        queues.append(Queue(name, arguments=dict(work)))
        bindings.append(Binding(JUKI_OUT, name, name))
        permissions.append(
            Permission(
                f"{p}{juki_identity(code)}",
                configure="^$",
                write=rf"^(juki\.in|{dlx})$",
                read=rf"^juki\.{code}\.replies$",  # code is [a-z0-9-]: no escaping
            )
        )
    if ca is not None:  # J-LIS's 異動等失効情報 to its CA, which only reads them
        name = juki_notices(ca)
        queues.append(Queue(name, arguments=dict(work)))
        bindings.append(Binding(JUKI_OUT, name, name))
        permissions.append(
            Permission(
                f"{p}{juki_identity(ca)}",
                configure="^$",
                write=rf"^{dlx}$",
                read=rf"^juki\.{ca}\.notices$",
            )
        )
    policies = (
        Policy(
            "juki-bounded",
            pattern=r"^juki\.",
            definition={"max-length": _REPLIES_MAX_LENGTH * 10, "overflow": "reject-publish"},
        ),
    )
    limits = tuple(UserLimits(perm.identity, 8, 32) for perm in permissions)
    return Topology(
        exchanges=exchanges,
        queues=tuple(queues),
        bindings=tuple(bindings),
        permissions=tuple(permissions),
        policies=policies,
        offices=(),
        identity_prefix=p,
        user_limits=limits,
    )
