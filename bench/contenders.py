"""The three contenders, and what differs between them for the benchmarks: how a batch
of jobs reaches their scheduler and how their runs are read back.

- `ours`: this project, in the layout `ours_layout` picks for the database: `split`
  (the production layout the README gives for PostgreSQL: an API process started with
  `SCHEDULER_ENABLED=false reddit-bot serve` and a `reddit-bot scheduler` process) or
  `single` (`reddit-bot serve`, API and scheduler in one process: the embedded default,
  used on SQLite). Jobs are written to `apscheduler_jobs` as its job store writes them,
  then one job is created through `POST /api/v1/tasks` (a command the leader applies),
  which makes the leader look at its store again. Runs are read from `task_executions`
  (fire time and outcome as the product records them; the start time is the one the
  task returned).
- `design`: the design's configuration (`bench/design.py`); the same rows in its job
  shape, then its scheduler is woken; runs from `task_executions` (it records no fire
  time: a run's fire time is derived from its start and the job's schedule).
- `limit`: bare APScheduler in memory (`bench/limit.py`); jobs through `/bench/reset`,
  runs from the process.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url, select

from app.models.task_execution import TaskExecution
from bench import jobstore
from bench.db import insert_job_rows, json_value, sync_engine
from bench.jobstore import JobBatch, JobShape
from bench.procs import Proc, spawn

LAYOUT_ENV = "BENCH_OURS_LAYOUT"
LAYOUTS = ("split", "single")


def ours_layout(database: str) -> str:
    """How `ours` runs on `database` ("postgresql" or "sqlite"): `BENCH_OURS_LAYOUT`
    (`split` or `single`, for both databases) or by default `split` on PostgreSQL (the
    README's production layout) and `single` on SQLite (the embedded default)."""
    chosen = os.environ.get(LAYOUT_ENV, "").strip().lower()
    if chosen:
        if chosen not in LAYOUTS:
            raise ValueError(f"{LAYOUT_ENV}={chosen!r}: expected one of {', '.join(LAYOUTS)}")
        return chosen
    return "split" if database == "postgresql" else "single"


@dataclass(frozen=True)
class Run:
    job_id: str
    scheduled: float | None  # the recorded fire time, where the contender records one
    started: float  # when the task body started
    finished: float | None
    status: str


class Contender(ABC):
    name: str

    def spawn(self, database_url: str, workdir: Path) -> Proc:
        return spawn(self.name, database_url, workdir)

    def startup_seconds(self, proc: Proc) -> float:
        """The leader start the process running the scheduler reported."""
        events = proc.leader.events("scheduler_started")
        if not events:
            raise RuntimeError(
                f"{self.name} reported no scheduler start (in {proc.leader.events_path.name})"
            )
        return float(events[-1]["seconds"])

    @abstractmethod
    def install(self, proc: Proc, batch: JobBatch) -> None:
        """Give the running scheduler these jobs."""

    @abstractmethod
    def runs(self, proc: Proc, prefix: str) -> list[Run]: ...


class _Stored(Contender):
    shape: JobShape

    def install(self, proc: Proc, batch: JobBatch) -> None:
        engine = sync_engine(proc.database_url)
        try:
            insert_job_rows(engine, jobstore.job_rows(self.shape, batch))
        finally:
            engine.dispose()
        self.wake(proc)

    @abstractmethod
    def wake(self, proc: Proc) -> None: ...

    def runs(self, proc: Proc, prefix: str) -> list[Run]:
        table = TaskExecution.__table__
        query = select(
            table.c.job_id,
            table.c.scheduled_at,
            table.c.started_at,
            table.c.completed_at,
            table.c.status,
            table.c.result,
        ).where(table.c.job_id.like(prefix + "%"))
        engine = sync_engine(proc.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(query).all()
        finally:
            engine.dispose()
        runs = []
        for job_id, scheduled, started, completed, status, result in rows:
            result = json_value(result)
            body_start = result.get("t") if isinstance(result, dict) else None
            runs.append(
                Run(
                    job_id=job_id,
                    scheduled=scheduled.timestamp() if scheduled else None,
                    started=float(body_start) if body_start else started.timestamp(),
                    finished=completed.timestamp() if completed else None,
                    status=str(status),
                )
            )
        return runs


class Ours(_Stored):
    name = "ours"
    shape = jobstore.OURS

    def __init__(self) -> None:
        self._wakeups = 0

    def spawn(self, database_url: str, workdir: Path) -> Proc:
        if ours_layout(make_url(database_url).get_backend_name()) == "split":
            return spawn(self.name, database_url, workdir, scheduler_kind="ours-scheduler")
        return spawn(self.name, database_url, workdir)

    def wake(self, proc: Proc) -> None:
        self._wakeups += 1
        response = proc.post(
            "/api/v1/tasks",
            {
                "id": f"bench_wakeup_{proc.port}_{self._wakeups}_{int(time.time())}",
                "task": "bench_noop",
                "trigger": {"type": "date", "run_date": "2099-01-01T00:00:00Z"},
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating a job failed: {response.status_code} {response.text}")


class Design(_Stored):
    name = "design"
    shape = jobstore.DESIGN

    def wake(self, proc: Proc) -> None:
        proc.post("/bench/wakeup").raise_for_status()


class Limit(Contender):
    name = "limit"

    def install(self, proc: Proc, batch: JobBatch) -> None:
        proc.post("/bench/reset", batch.as_json()).raise_for_status()

    def reset_seconds(self, proc: Proc, batch: JobBatch) -> float:
        response = proc.post("/bench/reset", batch.as_json())
        response.raise_for_status()
        return float(response.json()["seconds"])

    def runs(self, proc: Proc, prefix: str) -> list[Run]:
        response = proc.get("/bench/runs", prefix=prefix)
        response.raise_for_status()
        return [
            Run(job_id=job_id, scheduled=None, started=t, finished=t, status="success")
            for job_id, t in response.json()["runs"]
        ]


OURS = Ours()
DESIGN = Design()
LIMIT = Limit()
