"""The leader's job store and engine: APScheduler's own classes, with reads from memory
and an engine that survives a failed store write.

Only the leader writes `apscheduler_jobs` (API processes send it commands), so once it
has read the table at start, a copy in memory stays exact as long as every write goes
through this store. Reads then cost no round trip: the engine asks for due jobs and the
next wake-up time at every fire, which at hundreds of fires a second was most of its
time. A command's write (add, change, pause, remove) goes to the table first and
reaches memory only when the table took it, so the API's answer is what a new leader
would read. The engine's own writes after a fire are written per round (`firing`).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError

logger = logging.getLogger(__name__)

# Ids per `IN (...)` list: SQLite takes at most 32,766 bound values in one statement.
ID_CHUNK = 5000


class CachedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._memory = MemoryJobStore()
        self._memory.start(scheduler, alias)
        for job in super().get_all_jobs():
            self._memory.add_job(job)
        # Writes of firing rounds not in the table yet (job id -> new state, None: delete),
        # see `firing`.
        self._firing = False
        self._unwritten: dict[str, Job | None] = {}

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
            {
                "job_id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            }
            for job in self._unwritten.values()
            if job is not None
        ]
        deletes = [job_id for job_id, job in self._unwritten.items() if job is None]
        table = self.jobs_t
        with self.engine.begin() as connection:
            if updates:
                connection.execute(table.update().where(table.c.id == bindparam("job_id")), updates)
            if deletes:
                connection.execute(table.delete().where(table.c.id.in_(deletes)))
        self._unwritten = {}

    def _copy(self, job: Job) -> Job:
        # Callers change the jobs they get (APScheduler sets a fired job's next run time,
        # then asks for the write): they get copies, so memory changes only with the table.
        clone: Job = Job.__new__(Job)
        clone.__setstate__(job.__getstate__())
        clone._scheduler = self._scheduler
        clone._jobstore_alias = self._alias
        return clone

    def lookup_job(self, job_id: str) -> Job | None:
        job = self._memory.lookup_job(job_id)
        return None if job is None else self._copy(job)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return [self._copy(job) for job in self._memory.get_due_jobs(now)]

    def get_next_run_time(self) -> datetime | None:
        next_run: datetime | None = self._memory.get_next_run_time()
        return next_run

    def get_all_jobs(self) -> list[Job]:
        return [self._copy(job) for job in self._memory.get_all_jobs()]

    # When the table disagrees (a second leader overlapping briefly wrote it), memory
    # takes the table's version of that job, and the caller gets the table's error.

    def add_job(self, job: Job) -> None:
        try:
            super().add_job(job)
        except ConflictingIdError:
            self._reload(job.id)
            raise
        self._memory.add_job(self._copy(job))

    def update_job(self, job: Job) -> None:
        if self._firing:
            copy = self._copy(job)
            self._memory.update_job(copy)
            self._unwritten[job.id] = copy
            return
        # This write carries the job's latest state: an older one from a round must not
        # overwrite it.
        self._unwritten.pop(job.id, None)
        try:
            super().update_job(job)
        except JobLookupError:
            self._reload(job.id)
            raise
        self._memory.update_job(self._copy(job))

    def remove_job(self, job_id: str) -> None:
        if self._firing:
            self._memory.remove_job(job_id)
            self._unwritten[job_id] = None
            return
        self._unwritten.pop(job_id, None)
        try:
            super().remove_job(job_id)
        except JobLookupError:
            self._reload(job_id)
            raise
        self._memory.remove_job(job_id)

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
                "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
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
        for job in jobs:
            # A round not written yet must not overwrite (or delete) the new state.
            self._unwritten.pop(job.id, None)
            if replace and self._memory.lookup_job(job.id) is not None:
                self._memory.remove_job(job.id)
            # The caller hands the jobs over: memory keeps them without a copy.
            self._memory.add_job(job)

    def _reload(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._memory.remove_job(job_id)
        stored = super().lookup_job(job_id)
        if stored is not None:
            self._memory.add_job(stored)

    def remove_all_jobs(self) -> None:
        super().remove_all_jobs()
        self._memory.remove_all_jobs()


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
        return wait
