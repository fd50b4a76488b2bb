"""The audit log: who changed which job, when, how and why.

A job change through the task API is applied by the scheduler leader, which writes
the job store in a transaction of its own that a request cannot share. So the entry
travels with the command (`intent`): the leader writes it in the transaction that
claims the command, and deletes it again if applying fails. A change that happened
always has its entry, even when the request's own commit fails afterwards, and a
refused change has none. The request then fills in the job as it is after the change
(`complete`).

A bot config's change is the config's own, so its entry is written in the request's
session and commits with the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import audit as audit_crud
from app.models.audit import AuditAction, AuditEntry, AuditSource
from app.models.user import User
from app.schemas.audit import AuditEntryPublic
from app.schemas.common import Page, page_of
from app.schemas.task import JobInfo
from app.services.auth import Principal
from app.tasks.jobs.scraping import bot_job_id

# What defines a job and its state; the rest of `JobInfo` is derived or APScheduler's.
JOB_SNAPSHOT_FIELDS = frozenset(
    {
        "name",
        "task",
        "params",
        "trigger",
        "trigger_spec",
        "timeout_seconds",
        "retry",
        "pause_after_failures",
        "overlap",
        "catchup_window_seconds",
        "max_instances",
        "misfire_grace_time",
        "coalesce",
        "paused",
        "next_run_time",
    }
)


def job_snapshot(job: JobInfo) -> dict[str, Any]:
    return job.model_dump(mode="json", include=set(JOB_SNAPSHOT_FIELDS))


async def record(
    db: AsyncSession,
    actor: User,
    action: AuditAction,
    job_id: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    source: AuditSource = AuditSource.TASKS,
    bot_config_id: int | None = None,
) -> AuditEntry:
    return await audit_crud.create(
        db,
        created_at=datetime.now(UTC),
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        source=source,
        job_id=job_id,
        bot_config_id=bot_config_id,
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        reason=reason,
    )


def intent(
    actor: Principal,
    action: AuditAction,
    job_id: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The entry of a change the leader is asked to apply, for `SchedulerClient.submit`.
    It names the user, and the API key when the change was asked for with one. `after`:
    the job as the change leaves it, when the request knows it beforehand (an import);
    otherwise `complete` sets it."""
    key = actor.api_key
    return {
        "actor_id": actor.user.id,
        "actor_email": actor.user.email,
        "api_key_id": key.id if key is not None else None,
        "api_key_name": key.name if key is not None else None,
        "action": action.value,
        "source": AuditSource.TASKS.value,
        "job_id": job_id,
        "bot_config_id": None,
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "reason": reason,
    }


async def complete(
    db: AsyncSession, result: Mapping[str, Any], after: Mapping[str, Any] | None
) -> None:
    """Record the job as it is after the change on the entry the leader wrote."""
    entry_id = result.get("audit_id")
    if isinstance(entry_id, int) and after is not None:
        await audit_crud.set_after(db, entry_id, dict(after))


async def record_bot_schedule(
    db: AsyncSession,
    actor: User,
    action: AuditAction,
    bot_config_id: int,
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None = None,
) -> AuditEntry:
    """A change of a bot config's scheduling fields, filed under its scraping job (which
    exists only while the config is active with auto-scrape on)."""
    return await record(
        db,
        actor,
        action,
        bot_job_id(bot_config_id),
        before=_with_job_flag(before),
        after=_with_job_flag(after),
        reason=reason,
        source=AuditSource.BOT_CONFIG,
        bot_config_id=bot_config_id,
    )


def _with_job_flag(fields: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    scheduled = bool(fields.get("is_active") and fields.get("auto_scrape_enabled"))
    return {**fields, "job_scheduled": scheduled}


async def list_for_job(
    db: AsyncSession, job_id: str, *, limit: int, offset: int
) -> Page[AuditEntryPublic]:
    """Entries of a job, newest first; also for a job that no longer exists."""
    rows, total = await audit_crud.list_for_job(db, job_id, limit=limit, offset=offset)
    return page_of(AuditEntryPublic, rows, total, limit=limit, offset=offset)
