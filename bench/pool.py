"""The worker pool (`EXECUTOR=broker`: a leader, workers, a private RabbitMQ node)
beside the local executor (`EXECUTOR=local`: runs on the leader), on PostgreSQL only
(the broker executor needs it). Both run `ours` in the split layout (an API process and
`reddit-bot scheduler`), with `bench_noop` unless said otherwise.

- `fire_lateness_1000`: `pool_fire_jobs` interval jobs every `pool_fire_interval_s` (first fire
  times spread over one interval) for `pool_fire_duration_s`, with 3 workers: start
  lateness (fire time to the body's start) p50/p99 and the slots recorded (each once:
  the unique key allows no second row).
- `pool_scaling`: `pool_sleep_runs` runs of a 1-second I/O-bound task (`bench_sleep`)
  due at once, at 1, 2 and 3 workers of `pool_sleep_concurrency` slots: runs a second,
  and the ratio 3 workers / 1; the local executor runs them all at once on the leader.
- `pool_publish`: `pool_publish_runs` one-off jobs due at once: rows queued and
  published a second (broker), runs started a second (local), from the first to the
  last.

The jobs of `fire_lateness_1000` and `pool_publish` are in the job store before the leader
starts (the API creates about 40 a second). A full run starts a pool of its own for
each benchmark and executor; a smoke run (`PoolRun.quick_chains`) runs all three on
one pool per executor, the publish batch due once the fire window has ended.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from app.models.task_execution import TaskExecution
from bench.db import EMPTY, Backend, insert_job_rows, json_value, log, sync_engine
from bench.jobstore import OURS, JobBatch, JobShape, job_rows, utc
from bench.lead import attempt_prefix, install_ahead
from bench.procs import Child, Proc, _start, _stop, free_port, spawn
from bench.rabbit import RabbitNode
from bench.sizes import Sizes
from bench.stats import ms, percentile

WORKERS = 3
FINAL = ("success", "failed", "timeout", "missed", "skipped", "interrupted")


def params(sizes: Sizes) -> dict[str, dict[str, Any]]:
    return {
        "fire_lateness_1000": {
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
        self.broker = broker
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

    def stop_workers(self, concurrency: int) -> None:
        """The workers stopped; the ones added next take `concurrency` runs each."""
        _stop(self.workers, 60)
        self.workers = []
        self.env["WORKER_CONCURRENCY"] = str(concurrency)

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


def _start_pool(url: str, workdir: Path, broker: str | None, sizes: Sizes, workers: int) -> Pool:
    """A leader and its workers, up."""
    pool = Pool(url, workdir, broker)
    try:
        if broker:
            pool.add_workers(workers, sizes.wait_budget_s)
        pool.proc.wait_ready(sizes.wait_budget_s)
    except BaseException:
        pool.stop()
        raise
    return pool


def _stored_ahead(
    backend: Backend,
    sizes: Sizes,
    workdir: Path,
    broker: str | None,
    batches: Callable[[int, float], list[JobBatch]],
) -> tuple[str, list[JobBatch], Pool]:
    """A database holding `batches(attempt, first_fire)` and a pool started on it before
    that first fire (`bench.lead`: the lead grows with how long pools take to start)."""

    def put(attempt: int, first_fire: float) -> tuple[str, list[JobBatch], Pool]:
        url = backend.prepare(EMPTY)
        try:
            jobs = batches(attempt, first_fire)
            for batch in jobs:
                _install(url, OURS, batch)
            return url, jobs, _start_pool(url, workdir, broker, sizes, WORKERS)
        except BaseException:
            backend.release(url)
            raise

    def drop(late: tuple[str, list[JobBatch], Pool]) -> None:
        late[2].stop()
        backend.release(late[0])

    return install_ahead(
        f"pool start ({'broker' if broker else 'local'})",
        1,
        sizes.pool_lead_s,
        put,
        lambda installed: min(batch.first_fire for batch in installed[1]),
        drop,
    )


M = TypeVar("M")


def _measured(
    backend: Backend,
    sizes: Sizes,
    workdir: Path,
    broker: str | None,
    batches: Callable[[int, float], list[JobBatch]],
    measure: Callable[[str, Pool, list[JobBatch]], M],
) -> M:
    """`measure(url, pool, jobs)` on a pool started ahead of `batches` (`_stored_ahead`);
    then the pool stopped and its database released."""
    url, jobs, pool = _stored_ahead(backend, sizes, workdir, broker, batches)
    try:
        try:
            return measure(url, pool, jobs)
        finally:
            pool.stop()
    finally:
        backend.release(url)


def _fire_batch(sizes: Sizes, attempt: int, first_fire: float) -> JobBatch:
    return JobBatch(
        prefix=attempt_prefix("pfire_", attempt),
        count=sizes.pool_fire_jobs,
        first_fire=first_fire,
        interval_s=sizes.pool_fire_interval_s,
        stagger_s=sizes.pool_fire_interval_s / sizes.pool_fire_jobs,
        runs=_slots(sizes),
    )


def _slots(sizes: Sizes) -> int:
    return round(sizes.pool_fire_duration_s / sizes.pool_fire_interval_s)


def _fire_end(sizes: Sizes, jobs: JobBatch) -> float:
    return jobs.first_fire + sizes.pool_fire_duration_s


def _fire_figures(url: str, pool: Pool, jobs: JobBatch, sizes: Sizes) -> dict[str, Any]:
    """Once the batch's window has passed and its runs are final: start lateness and the
    slots recorded."""
    end = _fire_end(sizes, jobs)
    time.sleep(max(0.0, end - time.time()))
    rows = _wait_final(url, jobs.prefix, jobs.count * _slots(sizes), sizes, end)
    pool.check()
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
        "expected": jobs.count * _slots(sizes),
    }


def fire(backend: Backend, sizes: Sizes, workdir: Path, broker: str | None) -> dict[str, Any]:
    def batches(attempt: int, first_fire: float) -> list[JobBatch]:
        return [_fire_batch(sizes, attempt, first_fire)]

    return _measured(
        backend,
        sizes,
        workdir,
        broker,
        batches,
        lambda url, pool, jobs: _fire_figures(url, pool, jobs[0], sizes),
    )


def _publish_batch(sizes: Sizes, attempt: int, due: float) -> JobBatch:
    prefix = attempt_prefix("ppub_", attempt)
    return JobBatch(prefix=prefix, count=sizes.pool_publish_runs, first_fire=due)


def _publish_rate(url: str, pool: Pool, jobs: JobBatch, sizes: Sizes) -> float:
    """Once the batch's runs are final: broker, rows queued (and published right after)
    a second; local, runs started a second, from the first to the last."""
    rows = _wait_final(url, jobs.prefix, jobs.count, sizes, jobs.first_fire)
    pool.check()
    stamps = [(r.created_at if pool.broker else r.started_at).timestamp() for r in rows]
    if len(stamps) < jobs.count:
        raise RuntimeError(f"only {len(stamps)} of {jobs.count} runs were recorded")
    return float(round(len(stamps) / max(max(stamps) - min(stamps), 1e-6), 1))


def publish(backend: Backend, sizes: Sizes, workdir: Path, broker: str | None) -> float:
    def batches(attempt: int, due: float) -> list[JobBatch]:
        return [_publish_batch(sizes, attempt, due)]

    # Due at once, once the leader runs: the rate is timed from the first row to the last.
    return _measured(
        backend,
        sizes,
        workdir,
        broker,
        batches,
        lambda url, pool, jobs: _publish_rate(url, pool, jobs[0], sizes),
    )


def fire_then_publish(
    backend: Backend,
    sizes: Sizes,
    workdir: Path,
    broker: str | None,
    then: Callable[[Pool], None] | None = None,
) -> tuple[dict[str, Any], float]:
    """`fire` and `publish` on one pool (a smoke run's: one start of its processes
    instead of two): the publish batch is due once the fire window has ended. `then`
    runs on the same pool last."""

    def batches(attempt: int, first_fire: float) -> list[JobBatch]:
        fired = _fire_batch(sizes, attempt, first_fire)
        due = _fire_end(sizes, fired) + sizes.settle_s
        return [fired, _publish_batch(sizes, attempt, due)]

    def measure(url: str, pool: Pool, jobs: list[JobBatch]) -> tuple[dict[str, Any], float]:
        fired, published = jobs
        figures = _fire_figures(url, pool, fired, sizes)
        rate = _publish_rate(url, pool, published, sizes)
        if then is not None:
            then(pool)
        return figures, rate

    return _measured(backend, sizes, workdir, broker, batches, measure)


def _sleep_round(pool: Pool, sizes: Sizes, tag: str) -> float:
    def put(attempt: int, due: float) -> JobBatch:
        prefix = attempt_prefix(f"psleep{tag}_", attempt)
        batch = JobBatch(prefix=prefix, count=sizes.pool_sleep_runs, first_fire=due)
        for i in range(batch.count):
            if time.time() > due:
                return dataclasses.replace(batch, count=i)  # late: the rest is not needed
            response = pool.proc.post(
                "/api/v1/tasks",
                {
                    "id": batch.job_id(i),
                    "task": "bench_sleep",
                    "trigger": {"type": "date", "run_date": utc(due).isoformat()},
                },
            )
            if response.status_code != 201 and time.time() > due:
                # Due while it was sent: refused as in the past (422), or created, run and
                # ended before the answer could read it back (404).
                created = i + 1 if response.status_code == 404 else i
                return dataclasses.replace(batch, count=created)
            if response.status_code != 201:
                raise RuntimeError(f"creating a job failed: {response.status_code} {response.text}")
        return batch

    def drop(late: JobBatch) -> None:
        # Its runs hold the workers' slots: done before the next batch is due.
        _wait_final(pool.url, late.prefix, late.count, sizes, late.first_fire)

    # Created through the API, one after another: about 40 a second, less when busy.
    batch = install_ahead(
        f"ours create one by one on {pool.proc.database}",
        sizes.pool_sleep_runs,
        sizes.pool_sleep_runs / 10,
        put,
        lambda jobs: jobs.first_fire,
        drop,
        fixed_s=5.0,
    )
    due = batch.first_fire
    rows = _wait_final(pool.url, batch.prefix, batch.count, sizes, due)
    pool.check()
    done = [r for r in rows if str(r.status) == "success"]
    if len(done) < batch.count:
        raise RuntimeError(f"only {len(done)} of {batch.count} runs succeeded")
    end = max(r.completed_at.timestamp() for r in done)
    return float(round(len(done) / max(end - due, 1e-6), 2))


def _scaling_rounds(pool: Pool, sizes: Sizes) -> dict[str, Any]:
    """`per_second_{1,2,3}` and `ratio_3_to_1`: the broker's workers added one by one."""
    figures: dict[str, Any] = {}
    for workers in (1, 2, 3):
        pool.add_workers(workers - len(pool.workers), sizes.wait_budget_s)
        figures[f"per_second_{workers}"] = _sleep_round(pool, sizes, str(workers))
    figures["ratio_3_to_1"] = round(figures["per_second_3"] / figures["per_second_1"], 2)
    return figures


def scaling(backend: Backend, sizes: Sizes, workdir: Path, broker: str) -> dict[str, Any]:
    url = backend.prepare(EMPTY)
    try:
        pool = Pool(url, workdir, broker, concurrency=sizes.pool_sleep_concurrency)
        try:
            pool.proc.wait_ready(sizes.wait_budget_s)
            return _scaling_rounds(pool, sizes)
        finally:
            pool.stop()
    finally:
        backend.release(url)


def scaling_local(backend: Backend, sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """`local_per_second`: the same runs on the leader."""
    url = backend.prepare(EMPTY)
    try:
        pool = Pool(url, workdir, None)
        try:
            pool.proc.wait_ready(sizes.wait_budget_s)
            return {"local_per_second": _sleep_round(pool, sizes, "local")}
        finally:
            pool.stop()
    finally:
        backend.release(url)


Step = Callable[[], None]


class PoolRun:
    """The three entries (`fire_lateness_1000`, `pool_scaling`, `pool_publish`), each with its
    figures under `ours`, broker and local side by side, or an error. Measured in two
    chains: the broker's on one private RabbitMQ node (its queues' names are fixed, so
    two pools on one node would take each other's runs), and the local executor's."""

    def __init__(self, backend: Backend, sizes: Sizes, workdir: Path) -> None:
        self.backend = backend
        self.sizes = sizes
        self.workdir = workdir / "pool"
        self.results: dict[str, dict[str, Any]] = {
            "fire_lateness_1000": {},
            "pool_scaling": {},
            "pool_publish": {},
        }
        self.rabbit: RabbitNode | None = None
        self._lock = threading.Lock()

    def _put(self, name: str, figures: dict[str, Any]) -> None:
        with self._lock:
            self.results[name].update(figures)

    def _guarded(self, names: tuple[str, ...], body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:
            log(f"{self.backend.name} pool {'/'.join(names)} failed: {type(exc).__name__}: {exc}")
            for name in names:
                self._put(name, {"error": f"{type(exc).__name__}: {exc}"[:500]})

    def _broker(self) -> str:
        if self.rabbit is None:
            raise RuntimeError("the RabbitMQ node did not start")
        return self.rabbit.url

    def _start_rabbit(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rabbit = RabbitNode()
        self.rabbit.start()

    def stop_rabbit(self) -> None:
        if self.rabbit is not None:
            self.rabbit.stop()
            self.rabbit = None

    def _fire(self, broker: bool) -> None:
        side = "broker" if broker else "local"
        log(f"{self.backend.name} pool: fire, {side}")
        found = fire(self.backend, self.sizes, self.workdir, self._broker() if broker else None)
        figures = {f"{side}_{k}": v for k, v in found.items() if k != "expected"}
        self._put("fire_lateness_1000", {**figures, "expected": found["expected"]})

    def _scaling(self, broker: bool) -> None:
        log(f"{self.backend.name} pool: scaling, {'broker' if broker else 'local'}")
        if broker:
            figures = scaling(self.backend, self.sizes, self.workdir, self._broker())
        else:
            figures = scaling_local(self.backend, self.sizes, self.workdir)
        self._put("pool_scaling", figures)

    def _publish(self, broker: bool) -> None:
        side = "broker" if broker else "local"
        log(f"{self.backend.name} pool: publish, {side}")
        rate = publish(self.backend, self.sizes, self.workdir, self._broker() if broker else None)
        self._put("pool_publish", {f"{side}_per_second": rate})

    def _fire_then_publish(self, broker: bool) -> None:
        side = "broker" if broker else "local"
        log(f"{self.backend.name} pool: fire, publish, scaling, {side}")
        scaled: dict[str, Any] = {}

        def scaling_here(pool: Pool) -> None:
            if pool.broker:
                pool.stop_workers(self.sizes.pool_sleep_concurrency)
                scaled.update(_scaling_rounds(pool, self.sizes))
            else:
                scaled["local_per_second"] = _sleep_round(pool, self.sizes, "local")

        found, rate = fire_then_publish(
            self.backend, self.sizes, self.workdir, self._broker() if broker else None, scaling_here
        )
        figures = {f"{side}_{k}": v for k, v in found.items() if k != "expected"}
        self._put("fire_lateness_1000", {**figures, "expected": found["expected"]})
        self._put("pool_publish", {f"{side}_per_second": rate})
        self._put("pool_scaling", scaled)

    def _step(self, names: tuple[str, ...], body: Callable[[bool], None], broker: bool) -> Step:
        return functools.partial(self._guarded, names, functools.partial(body, broker))

    def broker_chain(self) -> list[Step]:
        """The node, the broker's three benchmarks on it one after another, its stop."""
        every = tuple(self.results)
        return [
            functools.partial(self._guarded, every, self._start_rabbit),
            self._step(("fire_lateness_1000",), self._fire, True),
            self._step(("pool_scaling",), self._scaling, True),
            self._step(("pool_publish",), self._publish, True),
            self.stop_rabbit,
        ]

    def local_chain(self) -> list[Step]:
        return [
            self._step(("fire_lateness_1000",), self._fire, False),
            self._step(("pool_scaling",), self._scaling, False),
            self._step(("pool_publish",), self._publish, False),
        ]

    def quick_chains(self) -> list[list[Step]]:
        """A smoke run's two chains, with fewer processes started: all three benchmarks
        on one pool per executor (`fire_then_publish`, then the scaling rounds)."""
        every = tuple(self.results)
        return [
            [
                functools.partial(self._guarded, every, self._start_rabbit),
                self._step(every, self._fire_then_publish, True),
                self.stop_rabbit,
            ],
            [self._step(every, self._fire_then_publish, False)],
        ]

    def steps(self) -> list[Step]:
        """Both chains in one order: each benchmark broker then local."""
        broker, local = self.broker_chain(), self.local_chain()
        return [broker[0], broker[1], local[0], broker[2], local[1], broker[3], local[2], broker[4]]

    def entries(self) -> list[dict[str, Any]]:
        all_params = params(self.sizes)
        return [
            {
                "name": name,
                "database": self.backend.name,
                "params": {**all_params[name], "ours_layout": "split"},
                "results": {"ours": figures},
            }
            for name, figures in self.results.items()
        ]


def run(backend: Backend, sizes: Sizes, workdir: Path) -> list[dict[str, Any]]:
    """The three entries (`PoolRun`), measured one after another."""
    pool_run = PoolRun(backend, sizes, workdir)
    try:
        for step in pool_run.steps():
            step()
    finally:
        pool_run.stop_rabbit()
    return pool_run.entries()
