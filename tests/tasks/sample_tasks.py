"""Tasks registered for the scheduler tests (imported by tests/tasks/conftest.py, and by
the scheduler processes those tests start)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.tasks.registry import TaskContext, registry


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    sleep: float = 0.0
    fail: bool = False


@registry.task("test_record", "Append a line per run to a file (tests)", RecordParams)
async def record(ctx: TaskContext, params: RecordParams) -> dict[str, Any]:
    with open(params.path, "a", encoding="utf-8") as out:
        out.write(f"{ctx.job_id} {os.getpid()} {datetime.now(UTC).isoformat()}\n")
    if params.sleep:
        await asyncio.sleep(params.sleep)
    if params.fail:
        raise ValueError("boom: the task failed on purpose")
    # A datetime in the result: history must store it as JSON.
    return {"written_at": datetime.now(UTC), "pid": os.getpid()}


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float


@registry.task("test_sleep", "Sleep (tests)", SleepParams, timeout_seconds=60)
async def sleep(ctx: TaskContext, params: SleepParams) -> dict[str, Any]:
    await asyncio.sleep(params.seconds)
    return {"slept": params.seconds}


def lines(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


class LogParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marker: str
    lines: int = 1
    size: int = 0
    # Seconds between lines, so that runs started together interleave.
    pause: float = 0.0
    fail: bool = False


log = logging.getLogger("tests.tasks.sample_tasks")


def _log_from_a_thread(marker: str) -> None:
    log.info("%s from a thread", marker)


@registry.task("test_log", "Log lines (tests)", LogParams)
async def log_lines(ctx: TaskContext, params: LogParams) -> dict[str, Any]:
    for i in range(params.lines):
        log.info("%s line %d %s", params.marker, i, "x" * params.size)
        if params.pause:
            await asyncio.sleep(params.pause)
    log.debug("%s debug lines are not kept", params.marker)
    await asyncio.to_thread(_log_from_a_thread, params.marker)
    await asyncio.create_task(_log_from_a_task(params.marker))
    if params.fail:
        log.error("%s about to fail", params.marker)
        raise ValueError(f"{params.marker} failed on purpose")
    return {"lines": params.lines}


async def _log_from_a_task(marker: str) -> None:
    log.warning("%s from a task", marker)


@registry.task("test_stubborn", "Sleep through every cancellation (tests)", SleepParams)
async def stubborn(ctx: TaskContext, params: SleepParams) -> dict[str, Any]:
    """A run that does not end when its timeout cancels it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + params.seconds
    while loop.time() < end:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
    return {"slept": params.seconds}
