"""The leader's job store and engine: APScheduler's own classes, with reads from memory
and an engine that survives a failed store write.

Only the leader writes `apscheduler_jobs` (API processes send it commands), so once it
has read the table at start, a copy in memory stays exact as long as every write goes
through this store. Reads then cost no round trip: the engine asks for due jobs and the
next wake-up time at every fire, which at hundreds of fires a second was most of its
time. A command's write (add, change, pause, remove) goes to the table first and
reaches memory only when the table took it, so the API's answer is what a new leader
would read. The engine's own writes after a fire are written per round (`firing`).

Memory keeps each job as its stored state (the pickled bytes of the table's row,
compressed against the first state seen, since jobs differ from one another in a few
fields), with its next run time for the order, and builds a `Job` only when one is
asked for: a job costs a few hundred bytes rather than a tree of objects, and the start
reads a million rows without unpickling them (and compresses them after it).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import logging
import math
import pickle
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

logger = logging.getLogger(__name__)

# Ids per `IN (...)` list: SQLite takes at most 32,766 bound values in one statement.
ID_CHUNK = 5000
# Rows fetched at a time when the store loads the table.
LOAD_BATCH = 10_000
# The order of a paused job (no next run time): after every scheduled one.
PAUSED = math.inf
# States compressed per firing round while some loaded ones are not (about 10 ms), and
# the longest wait between two such rounds: a million are compressed within seconds of
# the start, each round holding the engine back no longer than a firing round does.
COMPACT_BATCH = 2000
COMPACT_WAIT_SECONDS = 0.01
# Loaded states lie in blocks of this size: above the largest size glibc serves from
# its heap (32 MiB), so each is mapped on its own and unmapped when freed.
BLOCK_BYTES = 40 << 20
# Where a loaded state lies: block number, offset and length in one int.
_LENGTH_BITS = 28
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_OFFSET_MASK = (1 << 28) - 1
_BLOCK_SHIFT = _LENGTH_BITS + 28
# Raw deflate with a 1 KiB window (a job's state is about 500 bytes) and little memory
# per stream: setting the stream up costs more than compressing one state.
_WINDOW_BITS = -10
_MEM_LEVEL = 2


class _Packer:
    """Compresses states with a preset dictionary: the first state it sees, which shares
    most of its bytes with every other job's (the same keys, entry point, trigger class
    and time zone)."""

    __slots__ = ("_compress", "_decompress")

    def __init__(self) -> None:
        self._compress: Any = None
        self._decompress: Any = None

    def pack(self, state: bytes) -> bytes:
        if self._compress is None:
            self._compress = zlib.compressobj(
                1, zlib.DEFLATED, _WINDOW_BITS, _MEM_LEVEL, zdict=state
            )
            self._decompress = zlib.decompressobj(_WINDOW_BITS, zdict=state)
        stream = self._compress.copy()
        return bytes(stream.compress(state) + stream.flush())

    def unpack(self, packed: bytes) -> bytes:
        return bytes(self._decompress.copy().decompress(packed))


class _Entry:
    __slots__ = ("held", "next_run")

    def __init__(self, next_run: float, held: bytes | int) -> None:
        self.next_run = next_run  # UTC timestamp, PAUSED when paused
        # The state compressed (`_Packer`), or where it lies in the loaded blocks.
        self.held = held


class _Jobs:
    """The jobs in memory in APScheduler's order: next run time, then id, paused last.
    `ids` and `times` are that order (ids, and their next run times).

    States loaded from the table are compressed later (`compact`): compressing a
    million of them would double the leader's start. Until then they lie end to end in
    a few large blocks, not in a bytes object each: those would leave the small-object
    heap fragmented by the entries allocated between them, and its memory would not be
    returned once they are compressed; a freed block is."""

    __slots__ = ("blocks", "entries", "ids", "loaded", "packer", "places", "times")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.ids: list[str] = []
        self.times = array("d")
        self.packer = _Packer()
        # The jobs loaded into `blocks` and where their states lie (in load order, so by
        # place), those not compressed yet: `compact` takes them from the end.
        self.loaded: list[str] = []
        self.places = array("q")
        self.blocks: list[bytearray] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self.entries

    def state(self, job_id: str) -> bytes | None:
        entry = self.entries.get(job_id)
        if entry is None:
            return None
        if isinstance(entry.held, int):
            return self._loaded(entry.held)
        return self.packer.unpack(entry.held)

    def _loaded(self, place: int) -> bytes:
        block = self.blocks[place >> _BLOCK_SHIFT]
        start = (place >> _LENGTH_BITS) & _OFFSET_MASK
        return bytes(block[start : start + (place & _LENGTH_MASK)])

    def containing(self, parts: Sequence[bytes]) -> set[str]:
        """The jobs whose state contains one of `parts`. Loaded states are searched a
        block at a time, each match traced back to its job."""
        found: set[str] = set()
        places = self.places
        for number, block in enumerate(self.blocks):
            for part in parts:
                at = block.find(part)
                while at >= 0:
                    key = number << _BLOCK_SHIFT | at << _LENGTH_BITS
                    index = bisect.bisect_right(places, key) - 1
                    if index >= 0:
                        job_id = self.loaded[index]
                        held = self.entries[job_id].held if job_id in self.entries else None
                        # Still this job's loaded state, and the match lies inside it.
                        if (
                            isinstance(held, int)
                            and held & ~_LENGTH_MASK == places[index]
                            and key < places[index] + ((held & _LENGTH_MASK) << _LENGTH_BITS)
                        ):
                            found.add(job_id)
                    at = block.find(part, at + 1)
        for job_id, entry in self.entries.items():
            if type(entry.held) is bytes and any(
                part in self.packer.unpack(entry.held) for part in parts
            ):
                found.add(job_id)
        return found

    def _position(self, next_run: float, job_id: str) -> int:
        lo = bisect.bisect_left(self.times, next_run)
        hi = bisect.bisect_right(self.times, next_run, lo)
        return bisect.bisect_left(self.ids, job_id, lo, hi)

    def put(self, job_id: str, next_run: float | None, state: bytes) -> None:
        """Add the job, or replace its state."""
        order = PAUSED if next_run is None else next_run
        self.discard(job_id)
        index = self._position(order, job_id)
        self.ids.insert(index, job_id)
        self.times.insert(index, order)
        self.entries[job_id] = _Entry(order, self.packer.pack(state))

    def discard(self, job_id: str) -> bool:
        entry = self.entries.pop(job_id, None)
        if entry is None:
            return False
        index = self._position(entry.next_run, job_id)
        del self.ids[index]
        del self.times[index]
        return True

    def load(self, rows: Iterable[Any]) -> None:
        """Take the table's rows (replacing what memory held), best in this store's order:
        then `ids` and `times` are built as they come, without sorting a million jobs in
        Python. Rows in another order are sorted here."""
        self.clear()
        entries = self.entries
        block = bytearray()
        blocks = self.blocks = [block]
        place = 0  # the current block's number, shifted
        entry = _Entry
        ids = self.ids = []
        times = self.times = array("d")
        places = self.places = array("q")
        ordered = True
        last_run, last_id = -math.inf, ""
        for job_id, next_run, state in rows:
            size = len(block)
            if size >= BLOCK_BYTES:
                block = bytearray()
                blocks.append(block)
                place += 1 << _BLOCK_SHIFT
                size = 0
            block += state
            at = place | size << _LENGTH_BITS
            order = PAUSED if next_run is None else next_run
            if order < last_run or (order == last_run and job_id < last_id):
                ordered = False
            last_run, last_id = order, job_id
            ids.append(job_id)
            times.append(order)
            places.append(at)
            entries[job_id] = entry(order, at | len(state))
        # Loaded states are compressed from the end of load order (see `compact`).
        self.loaded = list(ids)
        if not ordered:
            # Two stable sorts: by id, then by next run time (no key tuples).
            ids = sorted(entries)
            ids.sort(key=lambda job_id: entries[job_id].next_run)
            self.ids = ids
            self.times = array("d", (entries[job_id].next_run for job_id in ids))

    def compact(self, limit: int) -> bool:
        """Compress up to `limit` of the states held as loaded; whether some are left."""
        loaded, entries, pack = self.loaded, self.entries, self.packer.pack
        for _ in range(min(limit, len(loaded))):
            entry = entries.get(loaded.pop())
            self.places.pop()
            if entry is not None and isinstance(entry.held, int):
                entry.held = pack(self._loaded(entry.held))
        if loaded:
            return True
        self.blocks = []
        self.places = array("q")
        return False

    def due(self, now: float) -> list[str]:
        return self.ids[: bisect.bisect_right(self.times, now)]

    def first_run(self) -> float | None:
        if not self.times or self.times[0] == PAUSED:
            return None
        return self.times[0]

    def clear(self) -> None:
        self.entries = {}
        self.ids = []
        self.times = array("d")
        self.loaded = []
        self.places = array("q")
        self.blocks = []


def _fetched(cursor: Any) -> Iterator[Any]:
    while rows := cursor.fetchmany(LOAD_BATCH):
        yield from rows


class CachedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._memory = _Jobs()
        self._load()
        # Writes of firing rounds not in the table yet (job id -> (next run time, state);
        # None: delete), see `firing`.
        self._firing = False
        self._unwritten: dict[str, tuple[float | None, bytes] | None] = {}

    def _load(self) -> None:
        table = self.jobs_t
        postgresql = self.engine.dialect.name == "postgresql"
        query = select(table.c.id, table.c.next_run_time, table.c.job_state)
        if postgresql:
            # In memory's order: next run time, paused last, then id as Python compares
            # strings (by code point: the C collation's order of UTF-8). The server walks
            # the next run time index and sorts only runs of equal times, in its own
            # process. SQLite reads the table faster in its own order (measured): there
            # the rows are sorted in Python.
            query = query.order_by(table.c.next_run_time.nulls_last(), table.c.id.collate("C"))
        sql = str(query.compile(dialect=self.engine.dialect))
        with self._reading() as connection:
            # The driver's own cursor, LOAD_BATCH rows a fetch: SQLAlchemy's streaming
            # result grows its fetches from a few rows, thousands of round trips for a
            # million rows. On PostgreSQL a named (server-side) cursor, so the rows are
            # never all in memory at once, in binary: the states arrive as they are
            # stored, not in hex to be decoded.
            raw: Any = connection.connection.dbapi_connection
            cursor = (
                raw.cursor(name="apscheduler_jobs_load", binary=True)
                if postgresql
                else raw.cursor()
            )
            # The collector would walk the heap again and again as a million entries
            # are allocated, none of them garbage: a third of the load's CPU.
            collecting = gc.isenabled()
            gc.disable()
            try:
                cursor.execute(sql)
                self._memory.load(_fetched(cursor))
            finally:
                cursor.close()
                if collecting:
                    gc.enable()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A transaction (the engine's connections autocommit): PostgreSQL streams a big
        result only from a cursor inside one."""
        level = "SERIALIZABLE" if self.engine.dialect.name == "sqlite" else "READ COMMITTED"
        with self.engine.connect() as connection:
            connection = connection.execution_options(isolation_level=level)
            with connection.begin():
                yield connection

    def _state(self, job: Job) -> bytes:
        return pickle.dumps(job.__getstate__(), self.pickle_protocol)

    def _build(self, job_id: str) -> Job | None:
        """The job from its state in memory, as `SQLAlchemyJobStore` builds one from its
        row; a job that cannot be built is removed, as that store does."""
        state = self._memory.state(job_id)
        if state is None:
            return None
        try:
            job: Job = self._reconstitute_job(state)
        except BaseException:
            self._logger.exception('Unable to restore job "%s" -- removing it', job_id)
            self._memory.discard(job_id)
            with contextlib.suppress(JobLookupError):
                super().remove_job(job_id)
            return None
        return job

    def _built(self, job_ids: Iterable[str]) -> list[Job]:
        return [job for job_id in job_ids if (job := self._build(job_id)) is not None]

    def _keep(self, job: Job, state: bytes | None = None) -> None:
        self._memory.put(
            job.id, datetime_to_utc_timestamp(job.next_run_time), state or self._state(job)
        )

    @contextlib.contextmanager
    def firing(self) -> Iterator[None]:
        """A firing round: the engine moves every fired job to its next run time, or
        deletes it if it has none, one statement per job. Inside this block those writes
        reach memory at once and the table together when it ends: one UPDATE and one
        DELETE for the round, so 5,000 jobs due at once cost two statements, not 5,000.
        Each run's history row was committed before its job was moved, so a leader that
        dies before the round is written leaves nothing to run twice: the next leader
        finds those fire times taken. A round that could not be written is tried again
        with the next one. The engine holds its job-store lock throughout, so commands
        never see a round half-written."""
        self._firing = True
        try:
            yield
        finally:
            self._firing = False
        self._write_round()

    def _write_round(self) -> None:
        if not self._unwritten:
            return
        updates = [
            {"job_id": job_id, "next_run_time": written[0], "job_state": written[1]}
            for job_id, written in self._unwritten.items()
            if written is not None
        ]
        deletes = [job_id for job_id, written in self._unwritten.items() if written is None]
        table = self.jobs_t
        with self.engine.begin() as connection:
            if updates:
                connection.execute(table.update().where(table.c.id == bindparam("job_id")), updates)
            if deletes:
                connection.execute(table.delete().where(table.c.id.in_(deletes)))
        self._unwritten = {}

    # Callers change the jobs they get (APScheduler sets a fired job's next run time,
    # then asks for the write): each gets a `Job` of its own, built from memory, so
    # memory changes only with the table.

    def lookup_job(self, job_id: str) -> Job | None:
        return self._build(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._built(self._memory.due(datetime_to_utc_timestamp(now)))

    def get_next_run_time(self) -> datetime | None:
        # As `SQLAlchemyJobStore` answers, from the stored timestamp.
        first = self._memory.first_run()
        return None if first is None else utc_timestamp_to_datetime(first)

    def get_all_jobs(self) -> list[Job]:
        return self._built(list(self._memory.ids))

    def find_jobs(
        self, match_id: Callable[[str], bool] | None = None, containing: Sequence[bytes] = ()
    ) -> list[Job]:
        """The jobs whose id matches and, if `containing` is given, whose stored state
        (the pickled bytes) contains one of these byte strings, built only for those:
        with a million jobs, building all of them to look at a few takes seconds."""
        found = list(self._memory.ids)
        if containing:
            matching = self._memory.containing(containing)
            found = [job_id for job_id in found if job_id in matching]
        if match_id is not None:
            found = [job_id for job_id in found if match_id(job_id)]
        return self._built(found)

    # When the table disagrees (a second leader overlapping briefly wrote it), memory
    # takes the table's version of that job, and the caller gets the table's error.

    def add_job(self, job: Job) -> None:
        try:
            super().add_job(job)
        except ConflictingIdError:
            self._reload(job.id)
            raise
        self._keep(job)

    def update_job(self, job: Job) -> None:
        if self._firing:
            if job.id not in self._memory:
                raise JobLookupError(job.id)
            state = self._state(job)
            next_run = datetime_to_utc_timestamp(job.next_run_time)
            self._memory.put(job.id, next_run, state)
            self._unwritten[job.id] = (next_run, state)
            return
        # This write carries the job's latest state: an older one from a round must not
        # overwrite it.
        self._unwritten.pop(job.id, None)
        try:
            super().update_job(job)
        except JobLookupError:
            self._reload(job.id)
            raise
        self._keep(job)

    def remove_job(self, job_id: str) -> None:
        if self._firing:
            if not self._memory.discard(job_id):
                raise JobLookupError(job_id)
            self._unwritten[job_id] = None
            return
        self._unwritten.pop(job_id, None)
        try:
            super().remove_job(job_id)
        except JobLookupError:
            self._reload(job_id)
            raise
        self._memory.discard(job_id)

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool) -> None:
        """Write many jobs in one transaction: one DELETE of those that are replaced, one
        multi-row INSERT. All of them or none (`ConflictingIdError` when one exists and
        `replace` is off). Memory takes them once the table has."""
        table = self.jobs_t
        ids = [job.id for job in jobs]
        rows = [
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": self._state(job),
            }
            for job in jobs
        ]
        # The store's engine autocommits each statement; this write needs a transaction.
        level = "SERIALIZABLE" if self.engine.dialect.name == "sqlite" else "READ COMMITTED"
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(isolation_level=level)
                with connection.begin():
                    if replace:
                        for start in range(0, len(ids), ID_CHUNK):
                            chunk = ids[start : start + ID_CHUNK]
                            connection.execute(table.delete().where(table.c.id.in_(chunk)))
                    connection.execute(table.insert(), rows)
        except IntegrityError:
            for job_id in ids:
                self._reload(job_id)
            raise ConflictingIdError(ids[0]) from None
        for row in rows:
            # A round not written yet must not overwrite (or delete) the new state.
            self._unwritten.pop(row["id"], None)
            self._memory.put(row["id"], row["next_run_time"], row["job_state"])

    def _reload(self, job_id: str) -> None:
        self._memory.discard(job_id)
        table = self.jobs_t
        query = select(table.c.next_run_time, table.c.job_state).where(table.c.id == job_id)
        with self.engine.begin() as connection:
            row = connection.execute(query).first()
        if row is not None:
            self._memory.put(job_id, row[0], bytes(row[1]))

    def remove_all_jobs(self) -> None:
        super().remove_all_jobs()
        self._memory.clear()

    def compact(self, limit: int) -> bool:
        """See `_Jobs.compact`."""
        return self._memory.compact(limit)


class SchedulerEngine(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler catches a failure to read due jobs and tries again later, but not a
    failure to write a fired job's next run time: that ends its thread, and nothing fires
    again. Here the failure is logged and the next round comes after
    `jobstore_retry_interval`, writing what this one could not."""

    def pause_between_rounds(self) -> None:
        """Pause, and return once a round already in progress has handed over its runs,
        so whoever waits for the running jobs next sees all of them."""
        self.pause()
        with self._jobstores_lock:
            pass

    def find_jobs(
        self, match_id: Callable[[str], bool] | None = None, containing: Sequence[bytes] = ()
    ) -> list[Job]:
        """`CachedJobStore.find_jobs`, under the engine's job-store lock."""
        store: CachedJobStore = self._jobstores["default"]
        with self._jobstores_lock:
            return store.find_jobs(match_id, containing)

    def state_of(self, job: Job) -> bytes:
        """The job's state as the store writes it (the table's `job_state`)."""
        store: CachedJobStore = self._jobstores["default"]
        return store._state(job)

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool) -> None:
        """Store `jobs` at once (`CachedJobStore.add_jobs`) between firing rounds, then
        wake the engine once: adding them one by one costs a transaction and a wake-up
        each."""
        store: CachedJobStore = self._jobstores["default"]
        with self._jobstores_lock:
            store.add_jobs(jobs, replace=replace)
        self.wakeup()

    def _process_jobs(self) -> float | None:
        store: CachedJobStore = self._jobstores["default"]
        try:
            with self._jobstores_lock, store.firing():
                wait: float | None = super()._process_jobs()
        except Exception:
            logger.exception(
                "job store write failed while firing jobs; retrying in %s s",
                self.jobstore_retry_interval,
            )
            return float(self.jobstore_retry_interval)
        if self.state == STATE_RUNNING:
            # The states loaded at start are compressed a batch at a time after it,
            # between firing rounds, on this thread (otherwise idle).
            with self._jobstores_lock:
                more = store.compact(COMPACT_BATCH)
            if more:
                wait = COMPACT_WAIT_SECONDS if wait is None else min(wait, COMPACT_WAIT_SECONDS)
        return wait
