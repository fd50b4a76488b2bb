"""The task the benchmarks schedule: it does nothing but say when it started, so the
lateness of a run (start minus fire time) is read from its recorded result."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.tasks.registry import NoParams, TaskContext, registry


@registry.task("bench_noop", "Do nothing; return the start time (benchmarks)")
async def bench_noop(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    return {"t": time.time()}


@registry.task("bench_sleep", "Wait one second, as an I/O-bound task does (benchmarks)")
async def bench_sleep(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    started = time.time()
    await asyncio.sleep(1.0)
    return {"t": started}
