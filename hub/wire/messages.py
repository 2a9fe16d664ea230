"""The messages of the network: queries and replies, enrollment, token batches, events.

A query travels requester → hub (``Query``) → provider (``ForwardedQuery``) → hub
(``ProviderReply``) → requester (``Reply``). Enrollment travels office → hub (``Enroll``) →
J-LIS (``ForwardedEnroll``) → hub (``ProviderReply`` with ``Resolved``) → token service → hub →
office (``Reply`` with ``Enrolled``). The hub never reads a payload: answers are sealed by the
provider for the
requester, the number is sealed for J-LIS, and the resident-record code for the token service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import Discriminator, Field, StringConstraints, Tag

from hub.wire.base import (
    B64,
    MAX_ITEMS,
    Envelope,
    ItemCode,
    OfficeCode,
    Params,
    Text,
    Token,
    Traceparent,
    WireModel,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "OUTCOME_STATUSES",
    "AccessEvent",
    "Answered",
    "AnySealed",
    "Change",
    "ChangeEvent",
    "Delivered",
    "Enroll",
    "Enrolled",
    "ErrorFamily",
    "Fact",
    "Facts",
    "Failed",
    "ForwardedChange",
    "ForwardedEnroll",
    "ForwardedIdentify",
    "ForwardedNotice",
    "ForwardedQuery",
    "Identified",
    "Identify",
    "IssueBatch",
    "IssueItem",
    "IssueResult",
    "Message",
    "NotFound",
    "Notice",
    "Outcome",
    "Presented",
    "ProviderReply",
    "Query",
    "RecordOutcome",
    "Refused",
    "Reply",
    "Resolved",
    "Sealed",
    "SealedV1",
    "TimedOut",
    "TokenOk",
    "TokenRefusal",
    "TokenRequest",
    "TokenResult",
    "TranslateBatch",
    "TranslateItem",
    "TranslateResult",
    "outcome_code",
    "outcome_reason",
]

MAX_RETRY_AFTER = 3600.0  # seconds: a refusal's retry-after is at most an hour
Items = Annotated[tuple[ItemCode, ...], Field(min_length=1, max_length=MAX_ITEMS)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)+$", max_length=64)]
Municipality = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]  # 全国地方公共団体コード
# X-Road's four error families: the requester broke the protocol, the provider (its adapter)
# failed, the provider's own system returned an error, the hub (the mediator) failed.
ErrorFamily = Literal["requester", "provider", "provider_system", "hub"]


class Sealed(WireModel):
    """A payload only its recipient can open: HPKE (RFC 9180) in base mode,
    DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (``hub.wire.crypto``)."""

    v: Literal[2] = 2
    epk: B64  # HPKE's encapsulated key: the sender's ephemeral X25519 public key
    ct: B64  # the ciphertext and its tag (HPKE derives the nonce)


class SealedV1(WireModel):
    """The seal before HPKE: X25519, HKDF-SHA256, ChaCha20-Poly1305 with the recipient's key as
    associated data. Read during the change to wire version 2 (an answer sealed by an office
    not yet moved, relayed by the hub), never written."""

    epk: B64  # the sender's ephemeral public key
    nonce: B64
    ct: B64


def _seal_version(value: object) -> str | None:
    """ "2" for this version's seal, "1" for one with no version (v1), None for anything else."""
    found = value.get("v") if isinstance(value, dict) else getattr(value, "v", None)
    return "1" if found is None else "2" if found == 2 else None


AnySealed = Annotated[
    Annotated[Sealed, Tag("2")] | Annotated[SealedV1, Tag("1")],
    Discriminator(
        _seal_version,
        custom_error_type="seal_version",
        custom_error_message="a seal says v 2 (HPKE), or nothing (version 1)",
    ),
]
"""A sealed payload as read: this version's ``Sealed``, or the ``SealedV1`` it replaces."""


# ---- outcomes -----------------------------------------------------------------------------

RecordOutcome = Literal["ok", "refused", "not_found", "error", "timed_out"]
"""An access record's outcome (what the hub records and a portal shows), not a wire outcome."""


class Answered(WireModel):
    status: Literal["ok"] = "ok"
    payload: AnySealed


Fact = Literal["name", "address", "birth_date", "sex"]
"""One of the four facts (基本4情報) of 本人確認情報: 氏名, 住所, 生年月日, 性別."""


class Facts(WireModel):
    """The four facts of a person as an office holds them (住基法 第30条の6: 氏名, 住所,
    生年月日, 性別; sex as 住民票's code: 1 男, 2 女, 9 not applicable)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    address: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    birth_date: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    sex: Literal["1", "2", "9"]

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Facts:
        """The four facts of a register-shaped record (``name``, ``address``, ``birth_date`` as
        an ISO date or a date, ``sex``); a missing or malformed one raises ``ValidationError``."""
        return cls.model_validate(
            {
                "name": record.get("name"),
                "address": record.get("address"),
                "birth_date": str(record.get("birth_date")),
                "sex": record.get("sex"),
            }
        )


class Presented(WireModel):
    """What an enrolling office seals for J-LIS in ``Enroll.number``: the number it was given
    and the four facts it holds for the person, which J-LIS checks against its 本人確認情報
    (番号法 第16条: a number is taken only with the person's identity confirmed)."""

    number: Annotated[str, StringConstraints(max_length=64)]  # J-LIS says what is wrong with it
    facts: Facts


class Enrolled(WireModel):
    status: Literal["enrolled"] = "enrolled"
    token: Token


class Resolved(WireModel):
    """J-LIS found the resident: their resident-record code, sealed for the token service, and
    the municipality its 本人確認情報 names (the 市町村 that asked for the number, 番号法
    第8条): a routing fact the hub checks an enrollment against, never passed on."""

    status: Literal["resolved"] = "resolved"
    rrc: AnySealed
    municipality: Municipality | None = None
    # the facts the enrolling office presented that J-LIS's 本人確認情報 does not bear out: the
    # hub refuses the enrollment (filed under the person); left out of the JSON when none
    mismatched: tuple[Fact, ...] = Field(default=(), exclude_if=lambda v: not v)


class Identified(WireModel):
    """J-LIS (``jlis-pki``) found the holder of an authentication certificate: its own token
    for them, which the hub translates for the office that asked (``Identify``)."""

    status: Literal["identified"] = "identified"
    token: Token


class Refused(WireModel):
    status: Literal["refused"] = "refused"
    code: Code
    reason: Text
    # seconds after which the same request may succeed (the hub's quota refusals say it); left
    # out of the JSON when absent, so every other refusal reads as before
    retry_after: Annotated[float, Field(ge=0, le=MAX_RETRY_AFTER)] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )


class NotFound(WireModel):
    status: Literal["not_found"] = "not_found"
    reason: Text


class Failed(WireModel):
    status: Literal["error"] = "error"
    family: ErrorFamily
    code: Code
    reason: Text


class Delivered(WireModel):
    """A change event (or notice) was accepted and sent on. It says nothing of who or how many
    hold the person: that is routing data the sender has no need of."""

    status: Literal["delivered"] = "delivered"


class TimedOut(WireModel):
    status: Literal["timed_out"] = "timed_out"
    reason: Text


Outcome = Annotated[
    Answered
    | Enrolled
    | Resolved
    | Identified
    | Delivered
    | Refused
    | NotFound
    | Failed
    | TimedOut,
    Field(discriminator="status"),
]
# every outcome's status, from the union itself (a new outcome is in it without a second list)
OUTCOME_STATUSES: frozenset[str] = frozenset(
    model.model_fields["status"].default for model in get_args(get_args(Outcome)[0])
)


def outcome_code(outcome: Outcome, default: str = "") -> str:
    """A refusal's or failure's code; ``default`` for an outcome that has none."""
    return outcome.code if isinstance(outcome, Refused | Failed) else default


def outcome_reason(outcome: Outcome, default: str = "") -> str:
    """Why, in a sentence, for an outcome that says; ``default`` for one that does not."""
    if isinstance(outcome, Refused | NotFound | Failed | TimedOut):
        return outcome.reason
    return default


# ---- queries ------------------------------------------------------------------------------


class Query(WireModel):
    """Requester → hub. ``envelope.recipient`` is the provider office."""

    kind: Literal["query"] = "query"
    envelope: Envelope
    person: Token  # the requester's own token for the person
    items: Items
    params: Params = Field(default_factory=dict)
    # 不開示: the record of this query is withheld from the resident until the flag is lifted
    not_disclosed: bool = False
    # an electronic application (signed CMS), sealed for the provider; the hub passes it on
    document: AnySealed | None = None


class ForwardedQuery(WireModel):
    """Hub → provider: the person under the provider's token, the key to seal the answer for."""

    kind: Literal["forwarded_query"] = "forwarded_query"
    envelope: Envelope
    requester: OfficeCode
    person: Token
    items: Items
    params: Params = Field(default_factory=dict)
    seal_to: B64  # the requester's X25519 public key
    context: B64  # the hub's sealed routing context; the provider echoes it unchanged
    document: AnySealed | None = None


class ProviderReply(WireModel):
    """Provider → hub; also J-LIS → hub for enrollment, with a ``Resolved`` outcome."""

    kind: Literal["provider_reply"] = "provider_reply"
    envelope: Envelope
    context: B64
    outcome: Outcome


class Reply(WireModel):
    """Hub → requester: the final outcome of a query or enrollment, once it is recorded."""

    kind: Literal["reply"] = "reply"
    envelope: Envelope
    outcome: Outcome
    record_id: UUID | None = None


# ---- enrollment (符号取得) ----------------------------------------------------------------


class Enroll(WireModel):
    """Office → hub: 'give me my token for the holder of this number': the number and the four
    facts the office holds (``Presented``, JSON), sealed for J-LIS."""

    kind: Literal["enroll"] = "enroll"
    envelope: Envelope
    number: AnySealed
    # no "since when": the hub dates a holding itself, at the enrollment (an office's own date
    # could back-date a holding and make another office's lawful question ambiguous)


class ForwardedEnroll(WireModel):
    kind: Literal["forwarded_enroll"] = "forwarded_enroll"
    envelope: Envelope
    requester: OfficeCode
    number: AnySealed
    context: B64


class Identify(WireModel):
    """Portal → hub: 'give me my token for the holder of this authentication certificate'.

    The certificate (DER) is sealed for ``jlis-pki``, which alone links certificates to people;
    the requester gets its own token, never the link (the issue serial is no matching key).
    """

    kind: Literal["identify"] = "identify"
    envelope: Envelope
    certificate: AnySealed


class ForwardedIdentify(WireModel):
    kind: Literal["forwarded_identify"] = "forwarded_identify"
    envelope: Envelope
    requester: OfficeCode
    certificate: AnySealed
    context: B64


# ---- change events (異動) -----------------------------------------------------------------

Change = Literal[
    "moved_out",
    "moved_in",
    "birth",
    "death",
    "household",
    "number_changed",
    "name_changed",  # 氏名の記載の修正 (marriage, divorce, adoption …)
    "address_changed",  # 転居: a new address within the same municipality
]
Detail = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
        Annotated[str, StringConstraints(max_length=200)],
    ],
    Field(max_length=8),
]


class ChangeEvent(WireModel):
    """Resident register → hub: something happened to one of its residents.

    Only what changed and when, with routing facts (e.g. ``to_municipality``), never content:
    an office that needs the new address asks the register, under the legal table.
    ``envelope.correlation_id`` is the event id; the hub answers with ``Delivered``.
    """

    kind: Literal["change"] = "change"
    envelope: Envelope
    person: Token  # the register's own token
    change: Change
    effective: dt.date
    detail: Detail = Field(default_factory=dict)


class ForwardedChange(WireModel):
    """Hub → every office holding a token for the person, under that office's token."""

    kind: Literal["forwarded_change"] = "forwarded_change"
    envelope: Envelope
    origin: OfficeCode
    person: Token
    change: Change
    effective: dt.date
    detail: Detail = Field(default_factory=dict)


# ---- token service (hub ↔ token service, batched) -----------------------------------------


class TranslateItem(WireModel):
    token: Token
    holder: OfficeCode  # the office that presented the token
    targets: Annotated[tuple[OfficeCode, ...], Field(min_length=1, max_length=32)]
    traceparent: Traceparent | None = None  # the query's span at the hub (telemetry only)


class IssueItem(WireModel):
    rrc: AnySealed
    targets: Annotated[tuple[OfficeCode, ...], Field(min_length=1, max_length=8)]
    traceparent: Traceparent | None = None


class TranslateBatch(WireModel):
    kind: Literal["translate"] = "translate"
    items: Annotated[tuple[TranslateItem, ...], Field(min_length=1, max_length=1000)]


class IssueBatch(WireModel):
    kind: Literal["issue"] = "issue"
    items: Annotated[tuple[IssueItem, ...], Field(min_length=1, max_length=1000)]


TokenRequest = Annotated[TranslateBatch | IssueBatch, Field(discriminator="kind")]


class TokenOk(WireModel):
    status: Literal["ok"] = "ok"
    tokens: tuple[Token, ...]  # one per target, in order


class TokenRefusal(WireModel):
    status: Literal["refused"] = "refused"
    code: Code
    reason: Text


TokenResult = Annotated[TokenOk | TokenRefusal, Field(discriminator="status")]


class TranslateResult(WireModel):
    kind: Literal["translated"] = "translated"
    items: tuple[TokenResult, ...]


IssueResult = TranslateResult  # same shape: one result per item, tokens in target order

# ---- events -------------------------------------------------------------------------------


class AccessEvent(WireModel):
    """Hub → the portal, under the portal's token: a record about a person it holds was just
    written (``envelope.affair`` is the record's affair). Not-to-disclose records never go."""

    kind: Literal["access"] = "access"
    envelope: Envelope
    person: Token
    record_id: UUID
    at: dt.datetime
    requester: OfficeCode
    provider: OfficeCode | Literal[""]
    items: Annotated[tuple[ItemCode, ...], Field(max_length=MAX_ITEMS)]
    outcome: RecordOutcome


class Notice(WireModel):
    """Office → hub (お知らせ): a notice for a resident, by the office's own token;
    ``envelope.recipient`` is the portal. The hub answers ``Delivered``."""

    kind: Literal["notice"] = "notice"
    envelope: Envelope
    person: Token
    body: AnySealed  # sealed for the recipient (the portal): title and text


class ForwardedNotice(WireModel):
    """Hub → the portal: the notice under the portal's own token."""

    kind: Literal["forwarded_notice"] = "forwarded_notice"
    envelope: Envelope
    origin: OfficeCode
    person: Token
    body: AnySealed


Message = Annotated[
    Query
    | ForwardedQuery
    | ProviderReply
    | Reply
    | Enroll
    | ForwardedEnroll
    | ChangeEvent
    | ForwardedChange
    | Identify
    | ForwardedIdentify
    | AccessEvent
    | Notice
    | ForwardedNotice,
    Field(discriminator="kind"),
]
