"""`history_10m`: ten million executions over 1,000 jobs (`db.history_recipe`, the
oldest day of it past the 30-day retention: about 1.7 million rows).

- `stats_p95_ms`, `executions_p95_ms`: `GET /api/v1/tasks/{id}/stats` and
  `GET /api/v1/tasks/{id}/executions?limit=50` for random jobs (10,000 runs each), and
  `system_stats_p95_ms`: `GET /api/v1/tasks/system/stats` (over the whole table).
- `bytes_per_row`: the table with its indexes over its rows (PostgreSQL:
  `pg_total_relation_size`; SQLite: the table's and its indexes' pages, or the whole
  file where SQLite has no `dbstat`).
- `retention_seconds`: the `cleanup_executions` job deleting the expired day, run on
  demand through the scheduler, while `retention_load_jobs` no-op jobs fire every
  `retention_load_interval_s`: `lateness_p99_ms` is their lateness p99 while the
  retention runs, `baseline_p99_ms` the same jobs' in the `retention_baseline_s` before
  it, and `lateness_ratio` the one over the other (target: within 2x).

SQLite gets `history_sqlite_runs_per_job` runs a job (2,000: two million rows; ten
million took 11 minutes to load there on two busy cores, 7 of them building the
indexes); its params say so.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from bench import history, retention
from bench.contenders import Contender, _create_body
from bench.db import DAY, Recipe, history_recipe, sync_engine
from bench.jobstore import JobBatch
from bench.procs import Proc
from bench.sizes import Sizes
from bench.stats import ms, percentile

LOAD_PREFIX = "late_"
RETENTION_DAYS = 30


def runs_per_job(sizes: Sizes, database: str) -> int:
    if database == "sqlite":
        return sizes.history_sqlite_runs_per_job
    return sizes.history_big_runs_per_job


def expired_per_job(sizes: Sizes, database: str) -> int:
    """One day's runs of the history's span (`history_big_days`)."""
    return runs_per_job(sizes, database) // sizes.history_big_days


def recipe(sizes: Sizes, database: str) -> Recipe:
    return history_recipe(
        sizes.history_jobs,
        runs_per_job(sizes, database),
        expired_per_job=expired_per_job(sizes, database),
        old_span_s=DAY,
        new_span_s=(sizes.history_big_days - 1) * DAY,
    )


def params(sizes: Sizes, database: str) -> dict[str, Any]:
    per_job = runs_per_job(sizes, database)
    out: dict[str, Any] = {
        "executions": sizes.history_jobs * per_job,
        "jobs": sizes.history_jobs,
        "days": sizes.history_big_days,
        "expired": sizes.history_jobs * expired_per_job(sizes, database),
        "retention_days": RETENTION_DAYS,
        "requests_each": sizes.history_requests,
        "load_jobs": sizes.retention_load_jobs,
        "load_interval_s": sizes.retention_load_interval_s,
        "baseline_s": sizes.retention_baseline_s,
        "load_task": "bench_noop",
    }
    if database == "sqlite" and per_job != sizes.history_big_runs_per_job:
        out["smaller_on_sqlite"] = (
            f"{sizes.history_jobs * per_job:,} executions: loading "
            f"{sizes.history_jobs * sizes.history_big_runs_per_job:,} takes too long here"
        )
    return out


def bytes_per_row(url: str) -> float:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM task_executions")).scalar_one()
            if engine.dialect.name == "postgresql":
                size = conn.execute(
                    text("SELECT pg_total_relation_size('task_executions')")
                ).scalar_one()
            else:
                try:
                    size = conn.execute(
                        text(
                            "SELECT sum(pgsize) FROM dbstat WHERE name = 'task_executions' "
                            "OR name IN (SELECT name FROM sqlite_master "
                            "WHERE tbl_name = 'task_executions' AND type = 'index')"
                        )
                    ).scalar_one()
                except Exception:
                    pages = conn.execute(text("PRAGMA page_count")).scalar_one()
                    size = pages * conn.execute(text("PRAGMA page_size")).scalar_one()
    finally:
        engine.dispose()
    return round(int(size) / max(int(rows), 1), 1)


def _requests(proc: Proc, sizes: Sizes) -> dict[str, Any]:
    figures = history.run(proc, sizes)
    times = []
    deadline = time.monotonic() + sizes.slow_budget_s
    proc.timed_get("/api/v1/tasks/system/stats")
    for _ in range(sizes.history_requests):
        times.append(proc.timed_get("/api/v1/tasks/system/stats"))
        if time.monotonic() > deadline and len(times) >= 5:
            break
    figures["system_stats_p95_ms"] = ms(percentile(times, 95))
    return figures


def _install_load(proc: Proc, sizes: Sizes) -> JobBatch:
    """The no-op jobs, in one import, firing from a few seconds on until the session
    ends."""
    jobs = JobBatch(
        prefix=LOAD_PREFIX,
        count=sizes.retention_load_jobs,
        first_fire=time.time() + sizes.settle_s + 2,
        interval_s=sizes.retention_load_interval_s,
        stagger_s=sizes.retention_load_interval_s / sizes.retention_load_jobs,
    )
    body = {"jobs": [_create_body(jobs, i) for i in range(jobs.count)], "mode": "create"}
    response = proc.post("/api/v1/tasks/import", body)
    if response.status_code != 200:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")
    return jobs


def _lateness(contender: Contender, proc: Proc, start: float, end: float) -> list[float]:
    return [
        r.started - r.scheduled
        for r in contender.runs(proc, LOAD_PREFIX)
        if r.scheduled is not None and start <= r.scheduled < end and r.status == "success"
    ]


def run(contender: Contender, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    figures = _requests(proc, sizes)
    figures["bytes_per_row"] = bytes_per_row(proc.database_url)
    jobs = _install_load(proc, sizes)
    baseline_start = jobs.first_fire + sizes.retention_load_interval_s
    time.sleep(max(0.0, baseline_start + sizes.retention_baseline_s - time.time()))
    retention_start = time.time()
    seconds, deleted = retention.run_ours(proc, sizes)
    retention_end = time.time()
    # The runs due before the end have started a moment after it.
    time.sleep(sizes.retention_load_interval_s + 1)
    baseline = _lateness(contender, proc, baseline_start, retention_start)
    during = _lateness(contender, proc, retention_start, retention_end)
    baseline_p99 = percentile(baseline, 99)
    during_p99 = percentile(during, 99)
    figures.update(
        retention_seconds=round(seconds, 3),
        deleted=deleted,
        baseline_p99_ms=ms(baseline_p99),
        lateness_p99_ms=ms(during_p99),
        lateness_ratio=round(during_p99 / baseline_p99, 2) if baseline_p99 > 0 else None,
        baseline_runs=len(baseline),
        runs_during=len(during),
    )
    return figures
