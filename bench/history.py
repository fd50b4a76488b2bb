"""`history_1m`: `GET /api/v1/tasks/{id}/stats` and `GET /api/v1/tasks/{id}/executions
?limit=50` for random jobs, with `history_jobs * history_runs_per_job` executions in the
table (`db.history_recipe`: a run of every job every ~80 minutes over 60 days)."""

from __future__ import annotations

import random
import time
from typing import Any

from bench.procs import Proc
from bench.sizes import Sizes
from bench.stats import ms, percentile


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "executions": sizes.history_jobs * sizes.history_runs_per_job,
        "jobs": sizes.history_jobs,
        "requests_each": sizes.history_requests,
    }


def run(proc: Proc, sizes: Sizes) -> dict[str, Any]:
    rng = random.Random(13)
    jobs = [f"hist_{rng.randrange(sizes.history_jobs):06d}" for _ in range(sizes.history_requests)]
    proc.timed_get(f"/api/v1/tasks/{jobs[0]}/stats")
    proc.timed_get(f"/api/v1/tasks/{jobs[0]}/executions?limit=50")
    stats, executions = [], []
    errors = proc.errors
    deadline = time.monotonic() + sizes.slow_budget_s
    for job_id in jobs:
        stats.append(proc.timed_get(f"/api/v1/tasks/{job_id}/stats"))
        executions.append(proc.timed_get(f"/api/v1/tasks/{job_id}/executions?limit=50"))
        if time.monotonic() > deadline and len(stats) >= 5:
            break
    figures: dict[str, Any] = {
        "stats_p95_ms": ms(percentile(stats, 95)),
        "executions_p95_ms": ms(percentile(executions, 95)),
        "samples": len(stats),
    }
    if proc.errors > errors:
        figures["errors"] = proc.errors - errors
    return figures
