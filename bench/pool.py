"""The worker pool (`EXECUTOR=broker`: a leader, workers, a private RabbitMQ node)
beside the local executor (`EXECUTOR=local`: runs on the leader), on PostgreSQL only
(the broker executor needs it). Both run `ours` in the split layout (an API process and
`reddit-bot scheduler`), with `bench_noop` unless said otherwise.

- `pool_fire`: `pool_fire_jobs` interval jobs every `pool_fire_interval_s` (first fire
  times spread over one interval) for `pool_fire_duration_s`, with 3 workers: start
  lateness (fire time to the body's start) p50/p99 and the slots recorded (each once:
  the unique key allows no second row).
- `pool_scaling`: `pool_sleep_runs` runs of a 1-second I/O-bound task (`bench_sleep`)
  due at once, at 1, 2 and 3 workers of `pool_sleep_concurrency` slots: runs a second,
  and the ratio 3 workers / 1; the local executor runs them all at once on the leader.
- `pool_publish`: `pool_publish_runs` one-off jobs due at once: rows queued and
  published a second (broker), runs started a second (local), from the first to the
  last.

The jobs of `pool_fire` and `pool_publish` are in the job store before the leader
starts (the API creates about 40 a second).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.models.task_execution import TaskExecution
from bench.db import EMPTY, Backend, insert_job_rows, json_value, log, sync_engine
from bench.jobstore import OURS, JobBatch, JobShape, job_rows, utc
from bench.procs import Child, Proc, _start, _stop, free_port, spawn
from bench.rabbit import RabbitNode
from bench.sizes import Sizes
from bench.stats import ms, percentile

WORKERS = 3
FINAL = ("success", "failed", "timeout", "missed", "skipped", "interrupted")


def params(sizes: Sizes) -> dict[str, dict[str, Any]]:
    return {
        "pool_fire": {
            "jobs": sizes.pool_fire_jobs,
            "interval_s": sizes.pool_fire_interval_s,
            "duration_s": sizes.pool_fire_duration_s,
            "fires_per_second": round(sizes.pool_fire_jobs / sizes.pool_fire_interval_s, 1),
            "workers": WORKERS,
        },
        "pool_scaling": {
            "runs": sizes.pool_sleep_runs,
            "task_seconds": 1.0,
            "worker_concurrency": sizes.pool_sleep_concurrency,
        },
        "pool_publish": {"runs": sizes.pool_publish_runs, "workers": WORKERS},
    }


class Pool:
    """A leader (split layout) and its workers on one database."""

    def __init__(self, url: str, workdir: Path, broker: str | None, concurrency: int = 20) -> None:
        self.url = url
        self.workdir = workdir
        self.env: dict[str, str] = (
            {
                "EXECUTOR": "broker",
                "BROKER_URL": broker,
                "WORKER_CONCURRENCY": str(concurrency),
                "BROKER_REPUBLISH_SECONDS": "60",
            }
            if broker
            else {"EXECUTOR": "local"}
        )
        self.workers: list[Child] = []
        self.proc: Proc = spawn("ours", url, workdir, scheduler_kind="ours-scheduler", **self.env)

    def add_workers(self, count: int, timeout: float) -> None:
        started = [
            _start("ours-worker", "worker", free_port(), self.url, self.workdir, self.env)
            for _ in range(count)
        ]
        self.workers += started
        deadline = time.monotonic() + timeout
        for child in started:
            while "serving" not in child.tail(100_000):
                if not child.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{child.tail()}")
                time.sleep(0.1)

    def check(self) -> None:
        self.proc.check()
        dead = [w for w in self.workers if not w.alive()]
        if dead:
            raise RuntimeError(f"a worker exited:\n{dead[0].tail()}")

    def stop(self) -> None:
        _stop(self.workers, 60)
        self.proc.stop()


def _rows(url: str, prefix: str) -> list[Any]:
    table = TaskExecution.__table__
    query = select(
        table.c.job_id,
        table.c.scheduled_at,
        table.c.status,
        table.c.result,
        table.c.created_at,
        table.c.started_at,
        table.c.completed_at,
    ).where(table.c.job_id.like(prefix + "%"))
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def _wait_final(url: str, prefix: str, expected: int, sizes: Sizes, due: float) -> list[Any]:
    """The rows once `expected` of them are final, or nothing changed for a while after
    they were due."""
    deadline = max(time.time(), due) + sizes.wait_budget_s
    last, last_change = -1, max(time.time(), due)
    while True:
        rows = _rows(url, prefix)
        final = sum(1 for r in rows if str(r.status) in FINAL)
        if final >= expected or time.time() > deadline:
            return rows
        if final != last:
            last, last_change = final, max(time.time(), due)
        if time.time() - last_change > max(sizes.stall_s, 10.0):
            return rows
        time.sleep(0.5)


def _install(url: str, shape: JobShape, batch: JobBatch) -> None:
    engine = sync_engine(url)
    try:
        insert_job_rows(engine, job_rows(shape, batch))
    finally:
        engine.dispose()


def _start_pool(
    url: str, workdir: Path, broker: str | None, sizes: Sizes, workers: int, due: float | None
) -> Pool:
    """A leader and its workers, up before `due` (raises if they are not)."""
    pool = Pool(url, workdir, broker)
    try:
        if broker:
            pool.add_workers(workers, sizes.wait_budget_s)
        pool.proc.wait_ready(sizes.wait_budget_s)
    except BaseException:
        pool.stop()
        raise
    if due is not None and time.time() > due:
        pool.stop()
        raise RuntimeError("the leader and its workers started after the first fire time")
    return pool


def fire(backend: Backend, sizes: Sizes, workdir: Path, broker: str | None) -> dict[str, Any]:
    slots = round(sizes.pool_fire_duration_s / sizes.pool_fire_interval_s)
    url = backend.prepare(EMPTY)
    first = time.time() + sizes.pool_lead_s
    batch = JobBatch(
        prefix="pfire_",
        count=sizes.pool_fire_jobs,
        first_fire=first,
        interval_s=sizes.pool_fire_interval_s,
        stagger_s=sizes.pool_fire_interval_s / sizes.pool_fire_jobs,
        runs=slots,
    )
    try:
        _install(url, OURS, batch)
        pool = _start_pool(url, workdir, broker, sizes, WORKERS, first)
        try:
            end = first + sizes.pool_fire_duration_s
            time.sleep(max(0.0, end - time.time()))
            rows = _wait_final(url, batch.prefix, batch.count * slots, sizes, end)
            pool.check()
        finally:
            pool.stop()
    finally:
        backend.release(url)
    lateness, recorded = [], set()
    for row in rows:
        result = json_value(row.result)
        if str(row.status) != "success" or not isinstance(result, dict):
            continue
        recorded.add((row.job_id, row.scheduled_at))
        lateness.append(float(result["t"]) - row.scheduled_at.timestamp())
    return {
        "p50_ms": ms(percentile(lateness, 50)),
        "p99_ms": ms(percentile(lateness, 99)),
        "recorded": len(recorded),
        "expected": batch.count * slots,
    }


def publish(backend: Backend, sizes: Sizes, workdir: Path, broker: str | None) -> float:
    url = backend.prepare(EMPTY)
    due = time.time() + sizes.pool_lead_s
    batch = JobBatch(prefix="ppub_", count=sizes.pool_publish_runs, first_fire=due)
    try:
        _install(url, OURS, batch)
        # Due at once whenever the leader gets to them: the rate is timed from the
        # first row to the last.
        pool = _start_pool(url, workdir, broker, sizes, WORKERS, None)
        try:
            rows = _wait_final(url, batch.prefix, batch.count, sizes, due)
            pool.check()
        finally:
            pool.stop()
    finally:
        backend.release(url)
    # Broker: when each row was queued (and published right after); local: when each
    # run started on the leader.
    stamps = [(r.created_at if broker else r.started_at).timestamp() for r in rows]
    if len(stamps) < batch.count:
        raise RuntimeError(f"only {len(stamps)} of {batch.count} runs were recorded")
    return float(round(len(stamps) / max(max(stamps) - min(stamps), 1e-6), 1))


def _sleep_round(pool: Pool, sizes: Sizes, tag: str) -> float:
    # Created through the API, one after another: about 40 a second, less when busy.
    due = time.time() + 5.0 + sizes.pool_sleep_runs / 10
    batch = JobBatch(prefix=f"psleep{tag}_", count=sizes.pool_sleep_runs, first_fire=due)
    for i in range(batch.count):
        response = pool.proc.post(
            "/api/v1/tasks",
            {
                "id": batch.job_id(i),
                "task": "bench_sleep",
                "trigger": {"type": "date", "run_date": utc(due).isoformat()},
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating a job failed: {response.status_code} {response.text}")
    if time.time() > due:
        raise RuntimeError("creating the jobs took past their fire time")
    rows = _wait_final(pool.url, batch.prefix, batch.count, sizes, due)
    pool.check()
    done = [r for r in rows if str(r.status) == "success"]
    if len(done) < batch.count:
        raise RuntimeError(f"only {len(done)} of {batch.count} runs succeeded")
    end = max(r.completed_at.timestamp() for r in done)
    return float(round(len(done) / max(end - due, 1e-6), 2))


def scaling(backend: Backend, sizes: Sizes, workdir: Path, broker: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    url = backend.prepare(EMPTY)
    try:
        pool = Pool(url, workdir, broker, concurrency=sizes.pool_sleep_concurrency)
        try:
            pool.proc.wait_ready(sizes.wait_budget_s)
            for workers in (1, 2, 3):
                pool.add_workers(workers - len(pool.workers), sizes.wait_budget_s)
                figures[f"per_second_{workers}"] = _sleep_round(pool, sizes, str(workers))
        finally:
            pool.stop()
    finally:
        backend.release(url)
    url = backend.prepare(EMPTY)
    try:
        pool = Pool(url, workdir, None)
        try:
            pool.proc.wait_ready(sizes.wait_budget_s)
            figures["local_per_second"] = _sleep_round(pool, sizes, "local")
        finally:
            pool.stop()
    finally:
        backend.release(url)
    figures["ratio_3_to_1"] = round(figures["per_second_3"] / figures["per_second_1"], 2)
    return figures


def run(backend: Backend, sizes: Sizes, workdir: Path) -> list[dict[str, Any]]:
    """The three entries, each with its figures under `ours` (broker and local side by
    side), or an error."""
    workdir = workdir / "pool"
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {"pool_fire": {}, "pool_scaling": {}, "pool_publish": {}}
    rabbit: RabbitNode | None = None
    try:
        rabbit = RabbitNode()
        rabbit.start()
        log(f"{backend.name} pool: fire, broker and local")
        broker_fire = fire(backend, sizes, workdir, rabbit.url)
        local_fire = fire(backend, sizes, workdir, None)
        results["pool_fire"] = {
            **{f"broker_{k}": v for k, v in broker_fire.items() if k != "expected"},
            **{f"local_{k}": v for k, v in local_fire.items() if k != "expected"},
            "expected": broker_fire["expected"],
        }
        log(f"{backend.name} pool: scaling")
        results["pool_scaling"] = scaling(backend, sizes, workdir, rabbit.url)
        log(f"{backend.name} pool: publish")
        results["pool_publish"] = {
            "broker_per_second": publish(backend, sizes, workdir, rabbit.url),
            "local_per_second": publish(backend, sizes, workdir, None),
        }
    except Exception as exc:
        log(f"{backend.name} pool failed: {type(exc).__name__}: {exc}")
        for name, figures in results.items():
            if not figures:
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        if rabbit is not None:
            rabbit.stop()
    all_params = params(sizes)
    return [
        {
            "name": name,
            "database": backend.name,
            "params": {**all_params[name], "ours_layout": "split"},
            "results": {"ours": figures},
        }
        for name, figures in results.items()
    ]
