"""Rows of `apscheduler_jobs` built the way `SQLAlchemyJobStore` writes them: the
pickled `Job.__getstate__()` of a real `Job`, so every contender loads them as its
own. Building a `Job` per row is slow at 100k rows, so one real job's state is the
prototype and each row changes only its own fields."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_to_utc_timestamp

from app.tasks.triggers import AnchoredIntervalTrigger

# Never started: a `Job` needs a scheduler only for its time zone.
_SCHEDULER = BackgroundScheduler(timezone=UTC)

JobRow = tuple[str, float | None, bytes]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class JobBatch:
    """`count` jobs named `{prefix}{i:06d}`. Job i first fires at `first_fire + i *
    stagger_s`, then every `interval_s` (`runs` times, then the job ends and the
    scheduler removes it); without an interval it is a one-off date job. `work` is what
    each run does: `noop`, or `write` (one small write transaction, `bench.tasks`)."""

    prefix: str
    count: int
    first_fire: float
    interval_s: float | None = None
    stagger_s: float = 0.0
    runs: int | None = None
    work: str = "noop"

    def job_id(self, i: int) -> str:
        return f"{self.prefix}{i:06d}"

    def start(self, i: int) -> float:
        return self.first_fire + i * self.stagger_s

    def index(self, job_id: str) -> int:
        return int(job_id.removeprefix(self.prefix))

    def trigger(self, i: int, interval: type[IntervalTrigger] = IntervalTrigger) -> BaseTrigger:
        start = self.start(i)
        if self.interval_s is None:
            return DateTrigger(run_date=utc(start), timezone=UTC)
        end = None
        if self.runs is not None:
            end = utc(start + (self.runs - 1) * self.interval_s + self.interval_s / 2)
        return interval(seconds=self.interval_s, start_date=utc(start), end_date=end, timezone=UTC)

    def slot(self, job_id: str, started: float) -> float:
        """The fire time a run that started at `started` belongs to: the latest one at or
        before it (exact while runs are less than one interval late)."""
        first = self.start(self.index(job_id))
        if self.interval_s is None or started < first:
            return first
        return first + ((started - first) // self.interval_s) * self.interval_s

    def as_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "count": self.count,
            "first_fire": self.first_fire,
            "interval_s": self.interval_s,
            "stagger_s": self.stagger_s,
            "runs": self.runs,
            "work": self.work,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobBatch:
        return cls(**data)


@dataclass(frozen=True)
class JobShape:
    """What a contender stores for one job besides its trigger."""

    func: str
    kwargs: Callable[[str], dict[str, Any]]
    max_instances: int
    misfire_grace_time: int | None
    coalesce: bool
    # The class of an interval trigger it stores.
    interval: type[IntervalTrigger] = IntervalTrigger


# What `EnhancedScheduler._add` stores for a job created through `POST /tasks`.
OURS = JobShape(
    func="app.tasks.runner:run",
    kwargs=lambda _job_id: {"task": "bench_noop", "params": {}},
    max_instances=1,
    misfire_grace_time=None,
    coalesce=True,
    interval=AnchoredIntervalTrigger,
)

# What the design's `EnhancedScheduler.add_job` stores, with its job defaults
# (max_instances 3, misfire_grace_time 30) and the job id passed as `_job_id`.
DESIGN = JobShape(
    func="bench.design:noop_job",
    kwargs=lambda job_id: {"_job_id": job_id},
    max_instances=3,
    misfire_grace_time=30,
    coalesce=True,
)


# The design's job for the `write` work (`bench.design.write_job`).
def design_shape(work: str) -> JobShape:
    if work == "noop":
        return DESIGN
    return JobShape(
        func="bench.design:write_job",
        kwargs=DESIGN.kwargs,
        max_instances=DESIGN.max_instances,
        misfire_grace_time=DESIGN.misfire_grace_time,
        coalesce=DESIGN.coalesce,
    )


def _prototype(shape: JobShape, batch: JobBatch) -> dict[str, Any]:
    trigger = batch.trigger(0, shape.interval)
    job = Job(
        _SCHEDULER,
        id=batch.job_id(0),
        func=shape.func,
        trigger=trigger,
        executor="default",
        args=(),
        kwargs=shape.kwargs(batch.job_id(0)),
        name=batch.job_id(0),
        misfire_grace_time=shape.misfire_grace_time,
        coalesce=shape.coalesce,
        max_instances=shape.max_instances,
        next_run_time=utc(batch.start(0)),
    )
    state: dict[str, Any] = job.__getstate__()
    return state


def job_rows(shape: JobShape, batch: JobBatch) -> Iterator[JobRow]:
    prototype = _prototype(shape, batch)
    for i in range(batch.count):
        job_id = batch.job_id(i)
        trigger = batch.trigger(i, shape.interval)
        next_run = trigger.get_next_fire_time(None, utc(batch.start(i)) - timedelta(seconds=1))
        state = dict(prototype)
        state.update(
            id=job_id,
            name=job_id,
            kwargs=shape.kwargs(job_id),
            trigger=trigger,
            next_run_time=next_run,
        )
        yield (
            job_id,
            datetime_to_utc_timestamp(next_run),
            pickle.dumps(state, pickle.HIGHEST_PROTOCOL),
        )
