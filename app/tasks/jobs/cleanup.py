"""The built-in maintenance jobs, with the design's ids and schedules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from app.crud import password_reset as reset_crud
from app.crud import reddit_content as content_crud
from app.crud import scheduler as scheduler_crud
from app.crud import scrape_session as session_crud
from app.crud import task_execution as execution_crud
from app.crud import throttle as throttle_crud
from app.crud import token as token_crud
from app.services.auth import ROTATED_TOKEN_MEMORY
from app.tasks.registry import JobSpec, NoParams, TaskContext, registry
from app.tasks.trigger_specs import CronSpec, IntervalSpec

APPLIED_COMMAND_RETENTION = timedelta(days=1)
# Execution history rows deleted per transaction by the retention job.
RETENTION_BATCH = 10_000
RETENTION_PAUSE_SECONDS = 0.0


@registry.task(
    "cleanup_expired_tokens",
    "Delete expired refresh and password-reset tokens, and ended throttle windows",
)
async def cleanup_expired_tokens(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    now = datetime.now(UTC)
    refresh = await token_crud.delete_expired(
        ctx.db, now, revoked_before=now - ROTATED_TOKEN_MEMORY
    )
    reset = await reset_crud.delete_expired(ctx.db, now)
    throttles = await throttle_crud.delete_ended(ctx.db, now)
    return {
        "expired_refresh_tokens": refresh,
        "expired_reset_tokens": reset,
        "ended_throttle_windows": throttles,
        "total_cleaned": refresh + reset + throttles,
    }


@registry.task("cleanup_old_sessions", "Delete scrape sessions older than the retention")
async def cleanup_old_sessions(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - timedelta(days=ctx.settings.SESSION_RETENTION_DAYS)
    return {"deleted_sessions": await session_crud.delete_older_than(ctx.db, cutoff)}


@registry.task("cleanup_old_content", "Delete Reddit posts and comments older than the retention")
async def cleanup_old_content(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - timedelta(days=ctx.settings.CONTENT_RETENTION_DAYS)
    posts, comments = await content_crud.delete_older_than(ctx.db, cutoff)
    return {"deleted_posts": posts, "deleted_comments": comments}


@registry.task("cleanup_execution_history", "Delete task execution history past the retention")
async def cleanup_execution_history(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - timedelta(days=ctx.settings.EXECUTION_RETENTION_DAYS)
    deleted = 0
    after: datetime | None = None
    # A day of history at hundreds of runs a second is millions of rows: deleted in
    # transactions of their own, so no lock or transaction is held for long and the
    # runs due meanwhile write their rows between two batches.
    while True:
        async with ctx.database.transaction() as db:
            count, after = await execution_crud.delete_batch_older_than(
                db, cutoff, after, RETENTION_BATCH
            )
        deleted += count
        if count < RETENTION_BATCH:
            break
        await asyncio.sleep(RETENTION_PAUSE_SECONDS)
    # Applied scheduler commands are only needed while their request waits.
    commands = await scheduler_crud.delete_commands_before(
        ctx.db, datetime.now(UTC) - APPLIED_COMMAND_RETENTION
    )
    return {"deleted_executions": deleted, "deleted_commands": commands}


BUILTIN_JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        id="cleanup_tokens",
        name="Clean up expired tokens",
        task="cleanup_expired_tokens",
        trigger=IntervalSpec(hours=1),
    ),
    JobSpec(
        id="cleanup_sessions",
        name="Clean up old scrape sessions",
        task="cleanup_old_sessions",
        trigger=CronSpec(hour=2, minute=0),
    ),
    JobSpec(
        id="cleanup_content",
        name="Clean up old Reddit content",
        task="cleanup_old_content",
        # The design's day_of_week=6 is Sunday in APScheduler 3 numbering; a name says so
        # in every version.
        trigger=CronSpec(day_of_week="sun", hour=2, minute=30),
    ),
    JobSpec(
        id="cleanup_executions",
        name="Clean up execution history",
        task="cleanup_execution_history",
        trigger=CronSpec(hour=3, minute=0),
    ),
)
BUILTIN_JOB_IDS = frozenset(job.id for job in BUILTIN_JOBS)
