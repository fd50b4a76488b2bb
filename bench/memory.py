"""`memory`: RSS of a contender idle after its start (no jobs but the built-in ones, no
requests), and with `list_jobs` jobs stored (measured after `list_jobs_100k`).

The figures the target applies to are the API process's (`ours` single: `serve`, API and
scheduler in one process). In the split layout the scheduler process is a second
process: its RSS is reported beside them as `scheduler_*`."""

from __future__ import annotations

import time
from typing import Any

from bench.procs import Proc
from bench.sizes import Sizes


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "jobs": sizes.list_jobs,
        "process": "the contender's API process (ours: serve, or the API process when split)",
        "scheduler_process": "scheduler_*: the `reddit-bot scheduler` process (ours, split)",
    }


def _figures(proc: Proc, name: str) -> dict[str, float]:
    figures = {name: proc.api.rss_mb()}
    if proc.scheduler is not None:
        figures["scheduler_" + name] = proc.scheduler.rss_mb()
    return figures


def idle(proc: Proc, sizes: Sizes) -> dict[str, float]:
    """`idle_rss_mb`, and `scheduler_idle_rss_mb` when split."""
    time.sleep(sizes.settle_s)
    return _figures(proc, "idle_rss_mb")


def with_jobs(proc: Proc) -> dict[str, float]:
    """`rss_100k_jobs_mb`, and `scheduler_rss_100k_jobs_mb` when split."""
    return _figures(proc, "rss_100k_jobs_mb")
