"""`list_jobs_100k`: `GET /api/v1/tasks?limit=100&offset=...` over a store of
`list_jobs` jobs (daily jobs, all in the future), at random offsets; and the RSS of the
process that serves it (`memory.rss_100k_jobs_mb`)."""

from __future__ import annotations

import random
import time
from typing import Any

from bench import jobstore
from bench.contenders import Contender
from bench.db import Recipe, jobs_recipe
from bench.jobstore import JobBatch, JobShape
from bench.procs import Proc
from bench.sizes import Sizes
from bench.stats import ms, percentile

PREFIX = "list_"
DAY = 86_400.0


def batch(sizes: Sizes) -> JobBatch:
    return JobBatch(
        prefix=PREFIX,
        count=sizes.list_jobs,
        first_fire=time.time() + DAY,
        interval_s=DAY,
        stagger_s=DAY / sizes.list_jobs,
    )


def recipe(shape: JobShape, name: str, sizes: Sizes) -> Recipe:
    return jobs_recipe(
        f"list_{name}_{sizes.list_jobs}", lambda: jobstore.job_rows(shape, batch(sizes))
    )


def params(sizes: Sizes) -> dict[str, Any]:
    return {"jobs": sizes.list_jobs, "page": sizes.list_page, "requests": sizes.list_requests}


def run(contender: Contender, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    rng = random.Random(11)
    last = max(0, sizes.list_jobs - sizes.list_page)
    paths = [
        f"/api/v1/tasks?limit={sizes.list_page}&offset={rng.randint(0, last)}"
        for _ in range(sizes.list_requests)
    ]
    proc.timed_get(paths[0])  # warm-up, not counted
    errors = proc.errors
    deadline = time.monotonic() + sizes.slow_budget_s
    times = []
    for path in paths:
        times.append(proc.timed_get(path))
        # A contender that needs seconds per page gets a few samples, not a stalled run.
        if time.monotonic() > deadline and len(times) >= 5:
            break
    figures: dict[str, Any] = {"p95_ms": ms(percentile(times, 95)), "samples": len(times)}
    if proc.errors > errors:
        figures["errors"] = proc.errors - errors
    return figures
