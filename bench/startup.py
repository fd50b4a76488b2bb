"""`startup_10k`: leader start with `bot_configs` active auto-scrape bot configs.

A first start creates their jobs; the benchmark is the restart after it: the seconds
the leader's start took (from taking the lead to the scheduler running: stored jobs
checked, bot jobs reconciled), and how many stored next run times it moved (compared
row by row with the store before the restart). `first_seconds` is the first start, and
`ready_seconds` the time from process start until its API answers with the scheduler
running. A start or restart is of the whole contender: with `ours` split, both its API
process and its scheduler process (whose leader start is the one reported)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.contenders import Contender, Limit
from bench.db import sync_engine
from bench.jobstore import JobBatch
from bench.procs import Proc
from bench.sizes import Sizes


def params(sizes: Sizes) -> dict[str, Any]:
    return {"bot_configs": sizes.bot_configs, "interval_hours": 6, "measured": "restart"}


def next_run_times(url: str) -> dict[str, float | None]:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, next_run_time FROM apscheduler_jobs WHERE id LIKE 'bot%'")
            ).all()
    finally:
        engine.dispose()
    return {str(job_id): next_run for job_id, next_run in rows}


def first_start(contender: Contender, url: str, workdir: Path, sizes: Sizes) -> float:
    proc = contender.spawn(url, workdir)
    try:
        proc.wait_ready(sizes.wait_budget_s)
        return contender.startup_seconds(proc)
    finally:
        proc.stop()


def restart(
    contender: Contender, url: str, workdir: Path, sizes: Sizes, first: float
) -> tuple[Proc, dict[str, Any]]:
    """Restart on the same store; returns the running process (for more benchmarks)."""
    # Starting a process takes over a second: a job re-added from scratch would get
    # another next run time.
    before = next_run_times(url)
    proc = contender.spawn(url, workdir)
    ready = proc.wait_ready(sizes.wait_budget_s)
    after = next_run_times(url)
    moved = sum(
        1 for job_id in before.keys() | after.keys() if before.get(job_id) != after.get(job_id)
    )
    return proc, {
        "seconds": round(contender.startup_seconds(proc), 3),
        "moved": moved,
        "first_seconds": round(first, 3),
        "ready_seconds": round(ready, 3),
        "jobs": len(after),
    }


def limit_start(contender: Limit, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    """Bare APScheduler cannot restart onto a stored schedule: its start with the jobs
    added from scratch."""
    jobs = JobBatch(
        prefix="bot_scraping_",
        count=sizes.bot_configs,
        first_fire=time.time() + 6 * 3600,
        interval_s=6 * 3600,
    )
    return {"seconds": round(contender.reset_seconds(proc, jobs), 3)}
