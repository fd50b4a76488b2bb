"""`jobs_1m`: `big_store_jobs` daily jobs (all in the future) written straight into
`apscheduler_jobs` in the shape the leader writes them, then a contender started on
them: `start_seconds` is its leader start (stored jobs loaded and checked), `moved` the
stored next run times that start changed (compared row by row), `rss_mb` the RSS of
the process running the scheduler after it, and `list_p95_ms` the job list page
(`GET /api/v1/tasks?limit=100&offset=...` at random offsets)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import jobstore
from bench.contenders import Contender
from bench.db import Recipe, jobs_recipe, sync_engine
from bench.jobstore import JobBatch, JobShape
from bench.procs import Proc
from bench.sizes import Sizes
from bench.stats import ms, percentile

PREFIX = "big_"
DAY = 86_400.0


def batch(sizes: Sizes) -> JobBatch:
    return JobBatch(
        prefix=PREFIX,
        count=sizes.big_store_jobs,
        first_fire=time.time() + DAY,
        interval_s=DAY,
        stagger_s=DAY / sizes.big_store_jobs,
    )


def recipe(shape: JobShape, name: str, sizes: Sizes) -> Recipe:
    return jobs_recipe(
        f"big_{name}_{sizes.big_store_jobs}", lambda: jobstore.job_rows(shape, batch(sizes))
    )


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "jobs": sizes.big_store_jobs,
        "page": sizes.list_page,
        "requests": sizes.list_requests,
        "rss_process": "the process running the scheduler (ours split: the scheduler's)",
    }


def next_run_times(url: str) -> dict[str, float | None]:
    """The benchmark's jobs (the leader adds its built-in jobs beside them)."""
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, next_run_time FROM apscheduler_jobs WHERE id LIKE :prefix"),
                {"prefix": PREFIX + "%"},
            ).all()
    finally:
        engine.dispose()
    return {str(job_id): next_run for job_id, next_run in rows}


def run(contender: Contender, url: str, workdir: Path, sizes: Sizes) -> tuple[Proc, dict[str, Any]]:
    """Start `contender` on the big store; returns it running (the caller stops it)."""
    before = next_run_times(url)
    proc = contender.spawn(url, workdir)
    try:
        ready = proc.wait_ready(sizes.wait_budget_s)
        after = next_run_times(url)
        moved = sum(
            1 for job_id in before.keys() | after.keys() if before.get(job_id) != after.get(job_id)
        )
        figures: dict[str, Any] = {
            "start_seconds": round(contender.startup_seconds(proc), 3),
            "moved": moved,
            "ready_seconds": round(ready, 3),
            "jobs": len(after),
        }
        rng = random.Random(17)
        last = max(0, sizes.big_store_jobs - sizes.list_page)
        paths = [
            f"/api/v1/tasks?limit={sizes.list_page}&offset={rng.randint(0, last)}"
            for _ in range(sizes.list_requests)
        ]
        proc.timed_get(paths[0])
        errors = proc.errors
        deadline = time.monotonic() + sizes.slow_budget_s
        times = []
        for path in paths:
            times.append(proc.timed_get(path))
            if time.monotonic() > deadline and len(times) >= 5:
                break
        figures["list_p95_ms"] = ms(percentile(times, 95))
        figures["samples"] = len(times)
        if proc.errors > errors:
            figures["errors"] = proc.errors - errors
        figures["rss_mb"] = proc.leader.rss_mb()
        figures["peak_rss_mb"] = proc.leader.peak_mb()
    except BaseException:
        proc.stop()
        raise
    return proc, figures
