"""`memory`: RSS of a contender process idle after its start (no jobs but the built-in
ones, no requests), and with `list_jobs` jobs stored (measured after `list_jobs_100k`)."""

from __future__ import annotations

import time
from typing import Any

from bench.procs import Proc
from bench.sizes import Sizes


def params(sizes: Sizes) -> dict[str, Any]:
    return {"jobs": sizes.list_jobs, "process": "the contender's API process (ours: serve)"}


def idle_rss(proc: Proc, sizes: Sizes) -> float:
    time.sleep(sizes.settle_s)
    return proc.rss_mb()
