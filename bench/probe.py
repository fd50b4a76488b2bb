"""Measurement probes inside contender processes: timestamped events appended as JSON
lines to the file named by `BENCH_EVENTS`."""

from __future__ import annotations

import json
import os
import time
from typing import Any


def emit(event: str, **values: Any) -> None:
    path = os.environ.get("BENCH_EVENTS")
    if not path:
        return
    line = json.dumps({"event": event, "t": time.time(), **values})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def install_ours() -> None:
    """Time `EnhancedScheduler.start` (start paused, close interrupted runs, ensure the
    built-in jobs, reconcile bot jobs, resume): the leader start the benchmark reports."""
    from app.tasks.scheduler import EnhancedScheduler

    original = EnhancedScheduler.start

    async def timed_start(self: EnhancedScheduler, *, reconcile: bool = False) -> None:
        started = time.perf_counter()
        await original(self, reconcile=reconcile)
        emit("scheduler_started", seconds=time.perf_counter() - started)

    EnhancedScheduler.start = timed_start  # type: ignore[method-assign]
