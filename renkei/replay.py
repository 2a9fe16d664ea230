"""The season replay's side of the network (``renkei season replay``): who sends, about whom,
and what the stores hold afterwards.

The replayer plays the offices that send the season's messages (``Season.offices()``): on the
embedded default, the whole network runs here with a population made by the same generator as
`renkei population generate` (in memory); with ``--broker``/``--db``, only those offices run
here, on RabbitMQ and PostgreSQL, against the hub processes, the token service and the
providers already running (as many hub processes as are), and the population `renkei
population generate` wrote. Those offices must not run elsewhere at the same time: their
replies would go to the other process.

The people each stream asks about are read from the sender's own store (its tokens), those a
query's provider holds (the hub's directory: an office asks where it knows the person is held,
the 転入元 for one who moved in); the portal's are made from J-LIS's residents with the token
master, as the portal would get them at login. Logins and applications are those of the
residents of the office the stream names (``held_by``), each given a card: embedded by the
replay's CA, through the portal's in-process API (``renkei/replay_portal.py``); on the real
network with ``--portal`` by the deployment's CA, at the portal process over HTTP, where the
pages are read in those residents' sessions too (``renkei/replay_web.py``).
Afterwards :meth:`Target.facts` reads from the network's own stores what the loss check
compares with the replayer's ledger: the access records by query id, the change events each
office kept (each event carries a marker in its ``detail``; a 転出届's move out is found by the
event id its register draws from the application's), the applications each office filed,
decided and told, the signature certificates the 転出届 revoked, the dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from cryptography import x509

from agencies.applications import COLLECTION
from agencies.municipality.moving import event_for
from agencies.population import LocalIds, chunk_households, chunks, place, records_rng, select
from hub.bus import (
    DEAD_QUEUE,
    REASON_HEADER,
    BrokerAdminError,
    Delivery,
    peek_messages,
    queue_depths,
)
from hub.directory import Directory, PgDirectory
from hub.node import EVENTS, Answer, OfficeNode, OfficeStore, PgStore, schema_for
from hub.routing.finish import record_key
from hub.routing.registers import REGISTER_ITEM
from hub.wire import HUB, JLIS_PKI, Delivered, outcome_code
from loadtest.accounting import ACCEPTED, REFUSED, DeadLetter, Facts, Ledger
from loadtest.exceptions import REPLAY_PAGE_UNAVAILABLE, REPLAY_POPULATION_EXHAUSTED
from loadtest.schedule import Arrival
from loadtest.season import CARD_KINDS, Season, Traffic
from loadtest.stats import Outcome
from pki import CaName
from portal.office import NOTICES
from renkei.exceptions import RENKEI_USAGE, CommandError
from renkei.network import Network, open_network
from renkei.pki_checks import signatures_on_disk
from renkei.population.commands import plan_for
from renkei.replay_portal import (
    PROCESSED,
    Card,
    Cards,
    application_facts,
    apply,
    close_cards,
    log_in,
    open_cards,
)
from renkei.replay_web import PortalWeb, WebCard
from renkei.secrets import TOKEN, State
from renkei.settings import Settings
from renkei.token_keys import key_ring
from token_service import KeyRing

__all__ = [
    "MARKER",
    "Broker",
    "Target",
    "changes_needed",
    "close_target",
    "load_in_memory",
    "open_target",
    "sample_until",
    "senders",
]

MARKER = "replay"  # the change event's detail key carrying the replay's marker
PORTAL = "myna-portal"
MAX_PEOPLE = 100_000  # per stream: enough to spread the load, bounded memory
LOGIN_CARDS = 200  # residents given a card per login stream (each logs in again and again)
APPLICATION_CARDS = 50  # per application stream when the schedule is not known yet
SETTLE = 60.0  # seconds the loss check waits for the offices to process what was filed
LATE = 15.0
"""Seconds the loss check waits for an access record still missing once every answer is in.
A hub that fails on a query (a bug, PostgreSQL restarting) returns it to its queue after
0.25, 0.5, 1, 2 and 4 s (``hub.bus``'s ``retry_pause``); the delivery after the deadline records
the time-out, about 8 s after the requester's own time-out (bench/README.md: season_bench's
lost disclosure, whose record came 3.7 s after the check had read)."""
ONCE = frozenset({"change", "application"})  # streams in which each person acts once


class _Recording:
    """An office's node as its own code sees it, noting each query id in the ledger (the
    portal's pages ask through it several times per page)."""

    def __init__(self, node: OfficeNode, ledger: Ledger) -> None:
        self._node, self._ledger = node, ledger

    async def ask(self, *args: Any, **kwargs: Any) -> Answer:
        answer: Answer = await self._node.ask(*args, **kwargs)
        key = record_key(self._node.code, answer.query_id)  # the query's key in the records
        self._ledger.asked(str(key), answered=answer.status != "timed_out")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


@dataclass
class Target:
    net: Network
    season: Season
    ring: KeyRing
    pool: Any  # asyncpg pool on the real network, else None
    people: dict[str, list[str]]  # stream → tokens of its sender
    ledger: Ledger = field(default_factory=Ledger)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    dead_before: int = 0
    cards: Cards | None = None  # the replay's CA (embedded, when a stream needs cards)
    web: PortalWeb | None = None  # the portal process and the CA over HTTP (real, --portal)
    wallet: dict[str, Card] = field(default_factory=dict)  # the portal's token → the card
    filed: dict[str, tuple[str, str]] = field(default_factory=dict)  # app id → kind, person
    _next: Counter[str] = field(default_factory=Counter)
    _used: dict[str, set[str]] = field(default_factory=dict)  # sender → people acted once

    @property
    def directory(self) -> Directory:
        if self.pool is not None:
            return PgDirectory(self.pool)
        assert self.net.directory is not None
        return self.net.directory

    def node(self, office: str) -> Any:
        return _Recording(self.net.offices[office], self.ledger)

    def store(self, office: str) -> OfficeStore:
        """An office's store: the replayer's own offices', or read in PostgreSQL."""
        if office in self.net.stores:
            return self.net.stores[office]
        assert self.pool is not None, f"{office} is not in the embedded network"
        return PgStore(self.pool, office)

    def _person(self, t: Traffic) -> str | None:
        people = self.people[t.name]
        if t.kind not in ONCE:
            i = self._next[t.name]
            self._next[t.name] += 1
            return people[i % len(people)] if people else None
        used = self._used.setdefault(t.office, set())
        while self._next[t.name] < len(people):  # each person changes once in a replay
            token = people[self._next[t.name]]
            self._next[t.name] += 1
            if token not in used:
                used.add(token)
                return token
        return None

    async def send(self, a: Arrival) -> Outcome:
        t = self.season.traffic[a.stream]
        person = self._person(t)
        if person is None:
            return Outcome("failed", REPLAY_POPULATION_EXHAUSTED)
        if t.office == PORTAL:
            return await self._visit(t, person, a.n)
        if t.kind == "query":
            assert t.provider is not None
            answer: Answer = await self.node(t.office).ask(
                t.affair, t.provider, t.items, person, t.params
            )
            return Outcome(answer.status, answer.code)
        return await self._change(t, person, a.n)

    async def _visit(self, t: Traffic, person: str, n: int) -> Outcome:
        """A portal stream's message: at the portal process over HTTP (``web``), else at the
        embedded portal through its in-process API."""
        if self.web is not None:
            return await self._web(self.web, t, person, n)
        if t.kind == "portal_login":
            assert self.cards is not None
            status, outcome = await log_in(self.cards, self._portal, self.wallet[person])
            self._logged_in(t, n, status)
            return outcome
        if t.kind == "application":
            return await self._apply(t, person)
        return await self._page(t, person)

    def _logged_in(self, t: Traffic, n: int, status: str) -> None:
        login = f"{self.run}-{n}"
        self.ledger.logins[login] = status
        if t.revoked:  # a card reported lost: the login is to be refused
            self.ledger.revoked_logins.add(login)

    @property
    def _portal(self) -> Any:
        return self.net.apps[PORTAL]

    async def _web(self, web: PortalWeb, t: Traffic, person: str, n: int) -> Outcome:
        """A portal stream's message at the portal process, over HTTP."""
        card = web.cards[person]
        if t.kind == "portal_login":
            status, outcome = await web.log_in(card)
            self._logged_in(t, n, status)
            return outcome
        if t.kind == "application":
            before = await self._move_holders(t, person)
            app_id, status, outcome = await web.apply(card, str(t.application), _form(t))
            key = app_id or f"{self.run}-{n}"  # refused before the portal gave it an id
            await self._filed(t, key, person, status, before)
            return outcome
        return await web.page(card, str(t.page))

    async def _apply(self, t: Traffic, person: str) -> Outcome:
        app_id = uuid.uuid4()
        before = await self._move_holders(t, person)
        status, outcome = await apply(
            self._portal, self.wallet[person], t.application, _form(t), app_id
        )
        await self._filed(t, str(app_id), person, status, before)
        return outcome

    async def _filed(
        self, t: Traffic, key: str, person: str, status: str, before: frozenset[str]
    ) -> None:
        """An application in the ledger; a 転出届 with its follow-up: the move out its
        register files under an event id drawn from the application's, kept by every holder
        (``before`` the filing, and any that came since, e.g. the portal by its login) and the
        register moved to, and the signature certificate revoked."""
        self.filed[key] = (str(t.application), person)
        self.ledger.applications[key] = status
        if status == ACCEPTED and t.application in PROCESSED:
            self.ledger.processed.add(key)
        if t.application != "moving":
            return
        event = str(event_for(self._register(t), key))
        if status == REFUSED:  # refused: no move out
            self.ledger.events[event] = frozenset()
            return
        self.ledger.events[event] = before | await self._move_holders(t, person)
        if status == ACCEPTED:
            self.ledger.revoking.add(key)
        else:  # filed or not: the portal cannot know
            self.ledger.unsure.add(event)

    def _register(self, t: Traffic) -> str:
        assert t.held_by is not None
        return _register_of(self, t.held_by)

    async def _move_holders(self, t: Traffic, person: str) -> frozenset[str]:
        """Those a 転出 filed today by the portal's ``person`` reaches (``_holders``), for a
        moving application; none for another."""
        if t.application != "moving":
            return frozenset()
        register = self._register(t)
        token = self.ring.translate(person, PORTAL, (register,))[0]
        moving = t.model_copy(
            update={
                "office": register,
                "change": "moved_out",
                "detail": {"to_municipality": t.form["to_municipality"]},
            }
        )
        return await self._holders(moving, token, dt.datetime.now(dt.UTC).date())

    async def _change(self, t: Traffic, person: str, n: int) -> Outcome:
        marker = f"{self.run}-{n}"
        effective = dt.datetime.now(dt.UTC).date()
        expected = await self._holders(t, person, effective)
        detail = {**t.detail, MARKER: marker}
        assert t.change is not None
        outcome = await self.net.offices[t.office].report_change(
            person, t.change, effective, detail
        )
        if outcome.status == "timed_out":  # delivered to every holder, or to none
            self.ledger.unsure.add(marker)
        kept = isinstance(outcome, Delivered) or outcome.status == "timed_out"
        self.ledger.events[marker] = expected if kept else frozenset()
        if isinstance(outcome, Delivered):
            return Outcome("ok")
        return Outcome(outcome.status, outcome_code(outcome))

    async def _holders(self, t: Traffic, person: str, on: dt.date) -> frozenset[str]:
        """The offices the hub will tell: those holding the person on ``on``, but the sender,
        and on a move out the register moved to (``hub/routing/desks/change.py``)."""
        hub_token = self.ring.translate(person, t.office, (HUB,))[0]
        held = await self.directory.holders(hub_token)
        out = {
            e.office
            for e in held
            if e.office != t.office and (e.until is None or e.until.date() > on)
        }
        to = t.detail.get("to_municipality")
        if t.change == "moved_out" and to:
            out |= {
                o.code
                for o in self.net.registry
                if o.municipality == to and REGISTER_ITEM in o.provides
            }
        return frozenset(out)

    async def _page(self, t: Traffic, person: str) -> Outcome:
        try:
            if t.page == "history":
                await self._portal.history(person)
            else:
                await self._portal.my_info(person)
        except Exception as exc:  # noqa: BLE001 - the page's failure is its outcome
            return Outcome("error", str(getattr(exc, "code", REPLAY_PAGE_UNAVAILABLE)))
        return Outcome("ok")

    # ---- afterwards: what the stores hold -------------------------------------------------

    async def facts(self, settle: float = SETTLE, late: float = LATE) -> Facts:
        """What the stores hold, once the offices have processed what was filed (or after
        ``settle`` seconds: what is still open then is reported as never decided or told).
        The hub's replies follow durable records, but a query the requester gave up on may be
        recorded later still: a record missing is waited for ``late`` seconds."""
        receipts, decisions, notices = await self._applications()
        revoked = await self._revoked()
        loop = asyncio.get_running_loop()
        until = loop.time() + settle
        processed, revoking = self.ledger.processed, self.ledger.revoking
        while loop.time() < until and not (
            all(decisions[a] and notices[a] for a in processed) and revoking <= revoked
        ):
            await asyncio.sleep(0.2)
            receipts, decisions, notices = await self._applications()
            revoked = await self._revoked()
        return Facts(
            records=await self._records_settled(late),
            events=await self._events(),
            applications=receipts,
            decisions=decisions,
            notices=notices,
            revoked=frozenset(revoked),
            dead_letters=await self._dead_letters(),
        )

    async def _revoked(self) -> set[str]:
        """Of the applications that revoke their signer's signature certificate (a 転出届),
        those whose certificate the CA has revoked (J-LIS's notice over 住基ネット)."""
        if not self.ledger.revoking:
            return set()
        whose = {self.filed[a][1]: a for a in self.ledger.revoking}
        if self.web is not None:
            return {whose[p] for p in await self.web.signatures_revoked(whose)}
        assert self.cards is not None
        out = set()
        for person, app in whose.items():
            sign = self.wallet[person].sign
            if sign and self.cards.ca.status(CaName.SIGNATURE, sign.serial_number)[1]:
                out.add(app)
        return out

    async def _applications(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        if not self.filed:
            return Counter(), Counter(), Counter()
        takers: dict[str, list[str]] = {}
        for office in self.net.registry:
            for kind in office.accepts:
                takers.setdefault(kind, []).append(office.code)
        receipts, decisions, notices = await application_facts(
            self.ledger, self.filed, self.store, takers, self._notice_ids
        )
        if self.pool is not None:
            receipts = await self._receipts(takers)
        return receipts, decisions, notices

    async def _receipts(self, takers: Mapping[str, list[str]]) -> Counter[str]:
        """Receipts in PostgreSQL by the application id they bear, in every office that takes
        its kind: an application filed twice shows, under whatever key."""
        out: Counter[str] = Counter()
        ids = list(self.filed)
        for office in sorted({o for offices in takers.values() for o in offices}):
            rows = await self.pool.fetch(
                f"SELECT doc->'receipt'->>'application_id' AS a, count(*) AS n FROM"  # noqa: S608 - schema checked
                f" {schema_for(office)}.docs WHERE collection = $1"
                " AND doc->'receipt'->>'application_id' = ANY($2::text[]) GROUP BY 1",
                COLLECTION,
                ids,
            )
            out.update({r["a"]: r["n"] for r in rows})
        return out

    async def _notice_ids(self, person: str) -> list[uuid.UUID]:
        """The ids of the お知らせ the portal keeps for ``person`` (its token)."""
        if PORTAL in self.net.apps:
            return [n.notice_id for n in await self._portal.notices(person)]
        doc = await self.store(PORTAL).get(NOTICES, person)
        return [uuid.UUID(n["notice_id"]) for n in (doc or {}).get("notices", [])]

    async def _records_settled(self, late: float) -> Counter[str]:
        """``_records``, read again while a query sent has none, ``late`` seconds at most."""
        loop = asyncio.get_running_loop()
        until = loop.time() + late
        found = await self._records()
        while loop.time() < until and not self.ledger.queries <= set(found):
            await asyncio.sleep(0.5)
            found = await self._records()
        return found

    async def _records(self) -> Counter[str]:
        wanted = self.ledger.queries
        if self.pool is not None:
            rows = await self.pool.fetch(
                "SELECT query_id::text AS q, count(*) AS n FROM records.access_record"
                " WHERE query_id = ANY($1::uuid[]) GROUP BY query_id",
                list(wanted),
            )
            return Counter({r["q"]: r["n"] for r in rows})
        assert self.net.records is not None
        out: Counter[str] = Counter()
        async for r in self.net.records.iter_all():
            q = str(r.query_id)
            if q in wanted:
                out[q] += 1
        return out

    async def _events(self) -> dict[str, Counter[str]]:
        """Change events kept, by office: the replay's by their marker, the move outs that
        its 転出届 filed by their event id."""
        out: dict[str, Counter[str]] = {}
        prefix = f"{self.run}-"
        ids = [e for e in self.ledger.events if not e.startswith(prefix)]
        for office in (o.code for o in self.net.registry):
            for marker, n in (await self._kept(office)).items():
                if marker.startswith(prefix):
                    out.setdefault(marker, Counter())[office] += n
            for event, n in (await self._kept_by_id(office, ids)).items():
                out.setdefault(event, Counter())[office] += n
        return out

    async def _kept_by_id(self, office: str, ids: list[str]) -> Counter[str]:
        """Change events the office kept under these event ids."""
        if not ids:
            return Counter()
        if self.pool is not None:
            rows = await self.pool.fetch(
                f"SELECT key, count(*) AS n FROM {schema_for(office)}.docs"  # noqa: S608 - schema checked
                " WHERE collection = $1 AND key = ANY($2::text[]) GROUP BY key",
                EVENTS,
                ids,
            )
            return Counter({r["key"]: r["n"] for r in rows})
        store = self.net.stores.get(office)
        if store is None:
            return Counter()
        return Counter([e for e in ids if await store.get(EVENTS, e) is not None])

    async def _kept(self, office: str) -> Counter[str]:
        """Change events the office kept, by the replay marker in their detail."""
        if self.pool is not None:
            rows = await self.pool.fetch(
                f"SELECT doc->'detail'->>'{MARKER}' AS m, count(*) AS n"  # noqa: S608 - schema checked
                f" FROM {schema_for(office)}.docs WHERE collection = $1"
                f" AND doc->'detail' ? '{MARKER}' GROUP BY 1",
                EVENTS,
            )
            return Counter({r["m"]: r["n"] for r in rows})
        store = self.net.stores.get(office)
        kept: Counter[str] = Counter()
        if store is None:
            return kept
        for key in await store.keys(EVENTS):
            doc = await store.get(EVENTS, key)
            marker = (doc or {}).get("detail", {}).get(MARKER)
            if marker:
                kept[marker] += 1
        return kept

    async def dead_count(self) -> int:
        if self.net.broker is not None:
            return self.net.broker.depth(DEAD_QUEUE)
        return -1  # read by the management API (renkei.season_commands)

    async def _dead_letters(self) -> list[DeadLetter]:
        broker = self.net.broker
        if broker is None:
            return []  # the real broker's are read by the management API
        found: list[DeadLetter] = []
        if not broker.depth(DEAD_QUEUE):
            return found
        bus = broker.connect("monitor")

        async def keep(d: Delivery) -> None:
            found.append(DeadLetter(DEAD_QUEUE, d.headers.get(REASON_HEADER, ""), d.message_id))
            await d.ack()

        sub = await bus.consume(DEAD_QUEUE, keep)
        for _ in range(50):
            if not broker.depth(DEAD_QUEUE):
                break
            await asyncio.sleep(0.02)
        await sub.cancel()
        await bus.close()
        return found[self.dead_before :]


async def load_in_memory(net: Network, residents: int, seed: int, today: dt.date) -> int:
    """The population `renkei population generate` would write, put into the embedded
    network's stores and directory (each office's records under its own tokens). Returns the
    number of office records."""
    ring = KeyRing(net.state.secret_of(TOKEN))
    plan = plan_for(net.registry)
    chosen = select()
    assert net.directory is not None
    n = 0
    for chunk, size in chunks(residents):
        rng, ids = records_rng(seed, chunk), LocalIds(chunk)
        rows: dict[tuple[str, str], list[tuple[str, str | None, dict[str, Any]]]] = {}
        for h in chunk_households(seed, chunk, size, today=today, municipalities=chosen):
            for office, collection, key, holder, doc, since in place(rng, h, plan, ids, today):
                token = None
                if holder is not None:
                    link = ring.link_id(holder)
                    token = ring.token_for(link, office)
                    if since is not None:
                        at = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(), dt.UTC)
                        await net.directory.enrolled(ring.token_for(link, HUB), office, at)
                rows.setdefault((office, collection), []).append((key, token, doc))
        for (office, collection), docs in rows.items():
            if office in net.stores:
                n += await net.stores[office].put_many(collection, docs)
    return n


async def _tokens(target: Target, office: str, collection: str) -> list[str]:
    if target.pool is not None:
        rows = await target.pool.fetch(
            f"SELECT token FROM {schema_for(office)}.docs"  # noqa: S608 - schema checked
            " WHERE collection = $1 AND token IS NOT NULL ORDER BY key LIMIT $2",
            collection,
            MAX_PEOPLE,
        )
        return [r["token"] for r in rows]
    store = target.net.stores[office]
    out = []
    for key in (await store.keys(collection))[:MAX_PEOPLE]:
        token = await store.token(collection, key)
        if token is not None:
            out.append(token)
    return out


async def _portal_people(target: Target) -> list[str]:
    """The portal's token for J-LIS's residents (what a login would give it)."""
    if target.pool is not None:
        rows = await target.pool.fetch(
            f"SELECT key FROM {schema_for('jlis')}.docs WHERE collection = 'residents'"  # noqa: S608
            " ORDER BY key LIMIT $1",
            MAX_PEOPLE,
        )
        codes = [r["key"] for r in rows]
    else:
        codes = (await target.net.stores["jlis"].keys("residents"))[:MAX_PEOPLE]
    ring = target.ring
    return [ring.token_for(ring.link_id(c), PORTAL) for c in codes]


def _register_of(target: Target, office: str) -> str:
    """The resident register of ``office``'s municipality (where its residents' four facts
    are)."""
    registry = target.net.registry
    where = registry.get(office).municipality
    for o in registry:
        if o.municipality == where and REGISTER_ITEM in o.provides:
            return o.code
    raise CommandError(RENKEI_USAGE, f"{office}: no resident register in its municipality")


async def _carded(target: Target, t: Traffic, wanted: int) -> list[str]:
    """The portal's tokens of up to ``wanted`` residents ``t.held_by`` holds in its
    ``t.collection``, each with a card (issued once per resident; for an application one with
    a signature certificate)."""
    assert t.held_by is not None
    register = _register_of(target, t.held_by)
    store, ring, web = target.store(register), target.ring, target.web
    have: Mapping[str, Card | WebCard] = web.cards if web is not None else target.wallet
    out: list[str] = []
    tokens = await _tokens(target, t.held_by, t.collection)
    while tokens and len(out) < wanted:  # in rounds: the CA's are HTTP calls, a few at once
        batch, tokens = tokens[: wanted - len(out)], tokens[wanted - len(out) :]
        issuing, here = [], []
        for token in batch:
            theirs, portal, pki = ring.translate(token, t.held_by, (register, PORTAL, JLIS_PKI))
            if t.own_cards and portal in have:  # another stream's resident: not to be changed
                continue
            if portal not in have:
                found = await store.by_token("residents", theirs)
                if found is None:
                    continue
                if web is not None:
                    issuing.append(web.issue(portal, pki, found[1]))
                else:
                    assert target.cards is not None
                    target.wallet[portal] = target.cards.issue(portal, pki, found[1])
            here.append(portal)
        await asyncio.gather(*issuing)
        out += [p for p in here if t.kind != "application" or have[p].sign is not None]
    if t.revoked:
        await _revoke(target, out)
    return out


async def _revoke(target: Target, people: list[str]) -> None:
    """The cards of ``people`` reported lost (紛失届): both certificates revoked at the CA."""
    if target.web is not None:
        for person in people:
            await target.web.revoke(target.web.cards[person])
        return
    assert target.cards is not None
    ca = target.cards.ca
    for person in people:
        card = target.wallet[person]
        serial = x509.load_der_x509_certificate(card.auth).serial_number
        ca.revoke(CaName.AUTHENTICATION, serial, x509.ReasonFlags.key_compromise)
        if card.sign is not None:
            ca.revoke(CaName.SIGNATURE, card.sign.serial_number, x509.ReasonFlags.key_compromise)


async def _people(target: Target, t: Traffic, wanted: int | None = None) -> list[str]:
    if t.kind in CARD_KINDS:
        if t.office != PORTAL:
            raise CommandError(RENKEI_USAGE, f"stream {t.name}: sent by {PORTAL}, not {t.office}")
        if t.kind == "portal_login":
            wanted = LOGIN_CARDS if wanted is None else min(wanted, LOGIN_CARDS)
        people = await _carded(target, t, APPLICATION_CARDS if wanted is None else wanted)
    elif t.kind == "portal_page" and target.web is not None:
        people = await _carded(target, _login_stream(target.season, t), LOGIN_CARDS)
    elif t.kind == "portal_page":
        people = await _portal_people(target)
    else:
        people = await _tokens(target, t.office, t.collection)
        if people and t.kind == "query" and t.provider is not None:
            people = await _held(target, t, people)
            if not people:
                raise CommandError(
                    RENKEI_USAGE,
                    f"stream {t.name}: {t.provider} holds none of {t.office}'s"
                    f" {t.collection!r}: the population has no one to ask it about",
                )
    if not people:
        raise CommandError(
            RENKEI_USAGE,
            f"stream {t.name}: {t.office} holds no one in {t.collection!r}: generate the"
            " population first (`renkei population generate`)",
        )
    return people


def _uncarded_changes(target: Target, carded: Mapping[str, Any]) -> None:
    """The change streams' people without the residents who hold a card: a resident's first
    login enrols the portal as holding them, and one during the replay would race with the
    change event's holders (read before it is sent), so the check would find the portal
    keeping an event it was not expected to."""
    if not carded:
        return
    for t in target.season.traffic:
        if t.kind == "change":
            people = target.people[t.name]
            portal = [target.ring.translate(p, t.office, (PORTAL,))[0] for p in people]
            target.people[t.name] = [
                p for p, q in zip(people, portal, strict=True) if q not in carded
            ]


def _form(t: Traffic) -> dict[str, str]:
    """What the resident types: the stream's form; a 転出届's moving date is the replay's day
    (the portal takes a date within a year of today, the 転出 reaches the holders at once)."""
    if t.application == "moving":
        return {**t.form, "moving_date": dt.datetime.now(dt.UTC).date().isoformat()}
    return dict(t.form)


def _login_stream(season: Season, page: Traffic) -> Traffic:
    """Whose cards a page stream reads with at the portal process: a page needs a session,
    so the residents of the season's (first) login stream."""
    for t in season.traffic:
        if t.kind == "portal_login" and not t.revoked:
            return t
    raise CommandError(
        RENKEI_USAGE, f"stream {page.name}: pages at the portal need a login stream's residents"
    )


async def _held(target: Target, t: Traffic, people: list[str]) -> list[str]:
    """Of the sender's ``people``, those the stream's provider holds now (the hub's
    directory): an office asks the office it knows holds the person (the 転入元 for one who
    moved in), any other would only answer not_found."""
    assert t.provider is not None
    hub = [target.ring.translate(p, t.office, (HUB,))[0] for p in people]
    held = await target.directory.held_by(t.provider, hub)
    return [p for p, h in zip(people, hub, strict=True) if h in held]


def senders(season: Season, *, web: bool) -> list[str]:
    """The offices the replayer plays: the season's, but the portal when its process is
    replayed over HTTP (``web``)."""
    return [o for o in season.offices() if not (web and o == PORTAL)]


async def _network(
    settings: Settings, state: State, season: Season, *, web: bool = False
) -> tuple[Network, Cards | None]:
    """The network to replay against; with the replay's CA when a stream needs cards
    (embedded), or the offices' signature check from the deployment's CA (real)."""
    real = settings.broker_url is not None
    if real != (settings.db_url is not None):
        raise CommandError(
            RENKEI_USAGE,
            "a replay against the real network needs both --broker and --db (the population"
            " and the records are in PostgreSQL); neither runs it embedded",
        )
    carded = [t.name for t in season.traffic if t.kind in CARD_KINDS]
    if real and carded and not web:
        raise CommandError(
            RENKEI_USAGE,
            f"logins and applications ({', '.join(carded)}) replay on the real network at the"
            " portal process only (--portal URL)",
        )
    if web and not real:
        raise CommandError(RENKEI_USAGE, "--portal replays against the real network only")
    if real:
        signatures = signatures_on_disk(settings.state_dir)  # the offices taking applications
        run = senders(season, web=web)
        return await open_network(settings, state, run=run, signatures=signatures), None
    if not carded:
        return await open_network(settings, state), None
    cards = await open_cards()
    try:
        net = await open_network(
            settings, state, listeners=cards.listeners(), signatures=cards.signatures
        )
    except BaseException:
        await close_cards(cards)
        raise
    return net, cards


async def open_target(
    settings: Settings,
    state: State,
    season: Season,
    *,
    residents: int | None = None,
    progress: Any = print,
    freeze: bool = True,
    counts: Mapping[str, int] | None = None,
    web: PortalWeb | None = None,
) -> Target:
    """The network (embedded, or the senders on the real one) and each stream's people;
    ``counts``: the schedule's messages per stream (how many cards its residents need);
    ``web``: the portal process and the CA, for the portal's streams (real network; closed
    with the target)."""
    real = settings.broker_url is not None
    secret = state.secret_of(TOKEN)
    ring = key_ring(settings.state_dir, secret) if real else KeyRing(secret)
    try:
        net, cards = await _network(settings, state, season, web=web is not None)
    except BaseException:
        if web is not None:
            await web.close()
        raise
    target = Target(net, season, ring, None, {}, cards=cards, web=web)
    try:
        if real:
            target.pool = await asyncpg.create_pool(settings.db_url, min_size=1, max_size=4)
        if PORTAL in net.apps:  # the portal's own questions go into the ledger too
            net.apps[PORTAL].node = target.node(PORTAL)
        if not real:
            size = residents or season.population.residents
            progress(f"population: {size} residents (seed {season.population.seed}), in memory")
            n = await load_in_memory(net, size, season.population.seed, season.population.today)
            progress(f"population: {n} office records")
        for t in sorted(season.traffic, key=lambda t: t.own_cards):  # theirs: no one else's
            target.people[t.name] = await _people(target, t, (counts or {}).get(t.name))
        carded = web.cards if web is not None else target.wallet
        _uncarded_changes(target, carded)
        if carded:
            whose = f"the deployment's CA ({web.pki_url})" if web else "the replay's CA"
            progress(f"cards: {len(carded)} residents, from {whose}")
        if net.broker is not None:
            target.dead_before = net.broker.depth(DEAD_QUEUE)
        # as every service does after start-up (renkei.serving.until_stopped): a full
        # collection of the population would stall every message in flight
        if freeze:
            gc.collect()
            gc.freeze()
    except BaseException:
        await close_target(target)
        raise
    return target


async def close_target(target: Target) -> None:
    if target.pool is not None:
        await target.pool.close()
    await target.net.aclose()
    if target.cards is not None:
        await close_cards(target.cards)
    if target.web is not None:
        await target.web.close()


def changes_needed(
    season: Season, counts: Mapping[str, int], people: Mapping[str, list[str]]
) -> list[str]:
    """Streams of change events or applications with more messages than people (each acts
    once)."""
    return [
        f"{t.name}: {counts.get(t.name, 0)} {t.kind}s for {len(people[t.name])} people"
        for t in season.traffic
        if t.kind in ONCE and counts.get(t.name, 0) > len(people[t.name])
    ]


class Broker:
    """The real broker's management API: queue depths, and the dead-letter queue read without
    taking anything from it."""

    def __init__(self, settings: Settings) -> None:
        self.url, self.vhost = settings.admin_url, settings.broker_vhost

    async def depths(self) -> dict[str, int]:
        return await queue_depths(self.url, self.vhost)

    async def dead_letters(self, after: Sequence[DeadLetter] = ()) -> list[DeadLetter]:
        """The dead letters now, but those in ``after`` (what was there before the replay)."""
        seen = {d.message_id for d in after}
        out = []
        for m in await peek_messages(self.url, self.vhost, DEAD_QUEUE):
            props = m.get("properties") or {}
            mid = str(props.get("message_id", ""))
            reason = str((props.get("headers") or {}).get(REASON_HEADER, ""))
            if mid not in seen:
                out.append(DeadLetter(DEAD_QUEUE, reason, mid))
        return out


async def sample_until(
    stop: asyncio.Event, sampler: Any, broker: Broker | None, queues: dict[str, Any]
) -> None:
    """Every second until ``stop``: the processes' CPU and memory, and the queue depths."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not stop.is_set():
        sampler.sample()
        if broker is not None:
            try:
                depths = await broker.depths()
            except BrokerAdminError:
                depths = {}
            queues["t"].append(round(loop.time() - t0, 2))
            for q, n in depths.items():
                queues["depth"].setdefault(q, []).append(n)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
