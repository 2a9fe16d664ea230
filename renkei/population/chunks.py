"""One chunk of the population as COPY data: each office's rows with its token, the directory.

This is the bulk form of enrollment (符号取得): for every record an office holds about a
person, the token the token service would issue to that office at enrollment
(``KeyRing.token_for(link_id(rrc), office)``) is filed with the record, and the directory
gets the row the hub would write, keyed by the hub's own token for the person. The
resident-record code is used in memory to derive the link id and goes into no store but
J-LIS's; the individual number is neither computed nor stored.

Runs in worker processes: `init_worker` loads the token master from the state directory (no
secret crosses a pipe), `encode_chunk` returns bytes in PostgreSQL's COPY text format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from agencies.population import LocalIds, Plan, chunk_households, place, records_rng, select
from hub.node import schema_for
from hub.wire import HUB
from renkei.secrets import TOKEN, State
from renkei.token_keys import key_ring
from token_service import KeyRing

__all__ = ["DIRECTORY", "ChunkOut", "Job", "encode_chunk", "init_worker", "set_ring", "target"]

DIRECTORY = ("directory", "enrollments")
_NULL = "\\N"  # COPY text format's NULL
_ring: KeyRing | None = None


@dataclass(frozen=True, slots=True)
class Job:
    seed: int
    chunk: int
    size: int
    today: dt.date
    municipalities: tuple[str, ...]
    plan: Plan
    enroll: bool = True


@dataclass(slots=True)
class ChunkOut:
    chunk: int
    residents: int = 0
    households: int = 0
    data: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (schema, table) → COPY
    rows: dict[tuple[str, str], int] = field(default_factory=dict)


def target(office: str) -> tuple[str, str]:
    """The (schema, table) of an office's documents."""
    return schema_for(office), "docs"


def init_worker(state_dir: str) -> None:
    """Process-pool initializer: this worker's key ring, from the deployment's state."""
    root = Path(state_dir)
    set_ring(key_ring(root, State.load_secret(root, TOKEN)))


def set_ring(ring: KeyRing | None) -> None:
    global _ring  # noqa: PLW0603 -- one key ring per worker process, set once by its initializer
    _ring = ring


def _escape(text: str) -> str:
    """COPY text format: backslash is the only special character JSON output can contain."""
    return text.replace("\\", "\\\\") if "\\" in text else text


def encode_chunk(job: Job) -> ChunkOut:
    ring = _ring
    if job.enroll and ring is None:
        raise RuntimeError("init_worker (or set_ring) first: enrollment needs the key ring")
    out = ChunkOut(job.chunk)
    lines: dict[str, list[str]] = {}
    directory: list[str] = []
    ids = LocalIds(job.chunk)
    chosen = select(job.municipalities)
    rng = records_rng(job.seed, job.chunk)
    for h in chunk_households(
        job.seed, job.chunk, job.size, today=job.today, municipalities=chosen
    ):
        out.households += 1
        out.residents += len(h.members)
        links: dict[str, tuple[bytes, str]] = {}
        held: dict[tuple[str, str], str] = {}  # (hub token, office) → since
        for office, collection, key, holder, doc, since in place(rng, h, job.plan, ids, job.today):
            token = _NULL
            if holder is not None and ring is not None and job.enroll:
                link, person = links.get(holder) or (b"", "")
                if not link:
                    link = ring.link_id(holder)
                    person = ring.token_for(link, HUB)
                    links[holder] = (link, person)
                token = ring.token_for(link, office)
                if since is not None:
                    was = held.get((person, office))
                    held[person, office] = since if was is None else min(was, since)
            js = _escape(orjson.dumps(doc).decode())
            lines.setdefault(office, []).append(f"{collection}\t{key}\t{token}\t{js}\n")
        directory += [f"{p}\t{o}\t{s} 00:00:00+00\n" for (p, o), s in held.items()]
    for office, rows in lines.items():
        out.data[target(office)] = "".join(rows).encode()
        out.rows[target(office)] = len(rows)
    if directory:
        out.data[DIRECTORY] = "".join(directory).encode()
        out.rows[DIRECTORY] = len(directory)
    return out
