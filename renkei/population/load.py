"""The bulk load: chunks generated in worker processes, COPYed into PostgreSQL as they come.

Each target table (an office's ``docs``, J-LIS's, the hub's directory) has its own connection
and a writer task fed through a short queue, so PostgreSQL ingests while the workers generate;
at most ``workers + 2`` chunks are in memory at once. Each COPY is its own transaction with
``synchronous_commit`` off (a crash may lose the last few chunks, never corrupt anything).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from renkei.exceptions import LoadError
from renkei.population.chunks import DIRECTORY, ChunkOut, Job, encode_chunk, init_worker, target

__all__ = ["Loaded", "check_targets", "clear", "load", "targets_for"]

_COLUMNS = {DIRECTORY: ["person", "office", "since"]}
_DOC_COLUMNS = ["collection", "key", "token", "doc"]
_SLICE = 1 << 20


@dataclass(slots=True)
class TableStats:
    rows: int = 0
    seconds: float = 0.0  # time spent in COPY on this table's connection


@dataclass(slots=True)
class Loaded:
    residents: int = 0
    households: int = 0
    seconds: float = 0.0
    tables: dict[tuple[str, str], TableStats] = field(default_factory=dict)


def targets_for(offices: Iterable[str]) -> list[tuple[str, str]]:
    """The tables a load writes, checks and (--replace) empties: the offices', the directory."""
    return [target(o) for o in offices] + [DIRECTORY]


async def check_targets(conn: Any, targets: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Whether each target already holds rows (1) or not (0); raises if one is missing."""
    missing = []
    found: dict[str, int] = {}
    for schema, table in targets:
        if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.{table}") is None:
            missing.append(f"{schema}.{table}")
            continue
        found[f"{schema}.{table}"] = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {schema}.{table} LIMIT 1) AS any_row"  # noqa: S608 -- names from schema_for
        )
    if missing:
        raise LoadError(
            f"the database has no {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}: "
            "run `renkei db migrate` first"
        )
    return found


async def clear(conn: Any, targets: Sequence[tuple[str, str]]) -> None:
    """--replace: empty every target table (each office's documents, the directory)."""
    names = ", ".join(f"{schema}.{table}" for schema, table in targets)
    await conn.execute(f"TRUNCATE {names}")


async def _slices(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(view), _SLICE):
        yield bytes(view[i : i + _SLICE])


class _Writers:
    """One connection, queue and task per target table, created on first use."""

    def __init__(self, dsn: str, loaded: Loaded, done: Callable[[int], None]) -> None:
        self._dsn = dsn
        self._loaded = loaded
        self._done = done
        self._queues: dict[tuple[str, str], asyncio.Queue[tuple[int, bytes, int] | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, tuple[int, int]] = {}  # chunk → (tables left, residents)

    async def put(self, out: ChunkOut) -> None:
        self._pending[out.chunk] = (len(out.data), out.residents)
        if not out.data:
            self._finish(out.chunk)
        for key, data in out.data.items():
            if key not in self._queues:
                self._queues[key] = asyncio.Queue(maxsize=2)
                self._tasks.append(asyncio.create_task(self._run(key)))
            await self._queues[key].put((out.chunk, data, out.rows[key]))
            self._raise_failures()

    def _finish(self, chunk: int) -> None:
        left, residents = self._pending[chunk]
        if left <= 1:
            del self._pending[chunk]
            self._done(residents)
        else:
            self._pending[chunk] = (left - 1, residents)

    async def _run(self, key: tuple[str, str]) -> None:
        stats = self._loaded.tables.setdefault(key, TableStats())
        queue = self._queues[key]
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.execute("SET synchronous_commit TO off")
            while (item := await queue.get()) is not None:
                chunk, data, rows = item
                started = time.perf_counter()
                await conn.copy_to_table(
                    key[1],
                    schema_name=key[0],
                    columns=_COLUMNS.get(key, _DOC_COLUMNS),
                    source=_slices(data),
                    format="text",
                )
                stats.seconds += time.perf_counter() - started
                stats.rows += rows
                self._finish(chunk)
        finally:
            await conn.close()

    def _raise_failures(self) -> None:
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                raise LoadError(f"COPY failed: {task.exception()}")

    async def close(self) -> None:
        for queue in self._queues.values():
            while True:  # a failed writer no longer drains its queue: never block on it
                self._raise_failures()
                try:
                    queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    await asyncio.sleep(0.05)
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise LoadError(f"COPY failed: {result}") from result

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


def _executor(workers: int, state_dir: Path) -> Executor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(str(state_dir),),
    )


async def load(
    dsn: str,
    jobs: Sequence[Job],
    *,
    workers: int,
    state_dir: Path,
    progress: Callable[[int], None],
) -> Loaded:
    """Generate and write every job's chunk; ``workers`` 0 generates in this process."""
    loaded = Loaded()
    started = time.perf_counter()
    writers = _Writers(dsn, loaded, progress)
    loop = asyncio.get_running_loop()
    try:
        if workers == 0:
            init_worker(str(state_dir))
            for job in jobs:
                await _take(writers, loaded, encode_chunk(job))
        else:
            pool = _executor(workers, state_dir)
            try:
                ahead: deque[asyncio.Future[ChunkOut]] = deque()
                for job in jobs:
                    ahead.append(loop.run_in_executor(pool, encode_chunk, job))
                    if len(ahead) > workers:
                        await _take(writers, loaded, await ahead.popleft())
                while ahead:
                    await _take(writers, loaded, await ahead.popleft())
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        await writers.close()
    except BaseException:
        writers.cancel()
        raise
    loaded.seconds = time.perf_counter() - started
    return loaded


async def _take(writers: _Writers, loaded: Loaded, out: ChunkOut) -> None:
    loaded.residents += out.residents
    loaded.households += out.households
    await writers.put(out)
