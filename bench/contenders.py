"""The three contenders, and what differs between them for the benchmarks: how a batch
of jobs reaches their scheduler and how their runs are read back.

- `ours`: this project, in the layout `ours_layout` picks for the database: `split`
  (the production layout the README gives for PostgreSQL: an API process started with
  `SCHEDULER_ENABLED=false reddit-bot serve` and a `reddit-bot scheduler` process) or
  `single` (`reddit-bot serve`, API and scheduler in one process: the embedded default,
  used on SQLite). Jobs are created through `POST /api/v1/tasks`, or all at once with
  `POST /api/v1/tasks/import` (`install_bulk`) (its leader keeps its store in memory and
  sees only what it writes itself; benchmarks that need a big store start it on one).
  Runs are read from `task_executions` (fire time and outcome as the product records
  them; the start time is the one the task returned).
- `design`: the design's configuration (`bench/design.py`); rows written to its store in
  its job shape, then its scheduler is woken; runs from `task_executions` (it records no
  fire time: a run's fire time is derived from its start and the job's schedule).
- `limit`: bare APScheduler in memory (`bench/limit.py`); jobs through `/bench/reset`,
  runs from the process.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select

from app.models.task_execution import TaskExecution
from bench import jobstore
from bench.db import insert_job_rows, json_value, sync_engine
from bench.jobstore import JobBatch
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

    def install_bulk(self, proc: Proc, batch: JobBatch) -> None:
        """The same, all at once where the contender has a way to."""
        self.install(proc, batch)

    def install_lead_s(self, count: int, bulk: bool = False) -> float:
        """Extra seconds to schedule a batch of `count` jobs ahead, so it is installed
        (by `install_bulk` when `bulk`) before its first fire time."""
        return 0.0

    @abstractmethod
    def runs(self, proc: Proc, prefix: str) -> list[Run]: ...


class _Recorded(Contender):
    """Runs read back from `task_executions`."""

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


class Ours(_Recorded):
    name = "ours"
    # Jobs are created through the API (below), each a command the leader applies: about
    # 35 a second here from 8 clients on an idle machine; planned with room to spare.
    CREATES_PER_SECOND = 20.0

    def spawn(self, database_url: str, workdir: Path) -> Proc:
        if ours_layout(make_url(database_url).get_backend_name()) == "split":
            return spawn(self.name, database_url, workdir, scheduler_kind="ours-scheduler")
        return spawn(self.name, database_url, workdir)

    # An import takes thousands a second (`import_10k`); planned at a quarter of that.
    IMPORTS_PER_SECOND = 1000.0

    def install_lead_s(self, count: int, bulk: bool = False) -> float:
        return count / (self.IMPORTS_PER_SECOND if bulk else self.CREATES_PER_SECOND)

    def install(self, proc: Proc, batch: JobBatch) -> None:
        """Through `POST /api/v1/tasks`, as a user creates jobs: the leader holds its job
        store in memory and sees only the jobs it writes itself."""

        def create(i: int) -> None:
            if time.time() > batch.first_fire:
                return  # late: the batch is dropped (`bench.lead`), the rest not needed
            response = proc.post("/api/v1/tasks", _create_body(batch, i))
            if response.status_code != 201 and time.time() > batch.first_fire:
                # Received too late: refused as never firing (422), or created, run and
                # ended before the answer could read it back (404).
                return
            if response.status_code != 201:
                raise RuntimeError(
                    f"creating {batch.job_id(i)} failed: {response.status_code} {response.text}"
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, range(batch.count)))

    def install_bulk(self, proc: Proc, batch: JobBatch) -> None:
        """One `POST /api/v1/tasks/import` of the whole batch."""
        body = {"jobs": [_create_body(batch, i) for i in range(batch.count)], "mode": "create"}
        response = proc.post("/api/v1/tasks/import", body)
        if response.status_code != 200 or response.json().get("created") != batch.count:
            raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")


def _create_body(batch: JobBatch, i: int) -> dict[str, Any]:
    start = batch.start(i)
    trigger: dict[str, Any]
    if batch.interval_s is None:
        trigger = {"type": "date", "run_date": jobstore.utc(start).isoformat()}
    else:
        trigger = {
            "type": "interval",
            "seconds": batch.interval_s,
            "start_date": jobstore.utc(start).isoformat(),
        }
        if batch.runs is not None:
            end = start + (batch.runs - 1) * batch.interval_s + batch.interval_s / 2
            trigger["end_date"] = jobstore.utc(end).isoformat()
    return {"id": batch.job_id(i), "task": TASKS[batch.work], "trigger": trigger}


# The registered task (`bench.tasks`) of each kind of work a batch's runs do.
TASKS = {"noop": "bench_noop", "write": "bench_write"}


class Design(_Recorded):
    name = "design"

    def install(self, proc: Proc, batch: JobBatch) -> None:
        """Rows written to its store as its job store writes them, then its scheduler is
        woken to read them."""
        engine = sync_engine(proc.database_url)
        try:
            insert_job_rows(engine, jobstore.job_rows(jobstore.design_shape(batch.work), batch))
        finally:
            engine.dispose()
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
