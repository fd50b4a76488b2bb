"""Every job as JSON, and many jobs imported at once.

An import is checked whole before anything is sent: each job as `POST /tasks` checks
one, plus what only a batch can get wrong (an id given twice). Any error refuses the
whole import, each error naming its job. Each job is then decided here down to its
next run time, so its audit entry is complete before it is sent; the leader writes the
jobs in one transaction (`commands.ImportJobs`), and the entries, one per job, travel
with that command as a single entry does with any other.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import AppError, Invalid
from app.crud import job as job_crud
from app.models.audit import AuditAction
from app.models.scheduler import APSchedulerJob
from app.schemas.task import JobInfo
from app.schemas.task_transfer import (
    ExportedJob,
    JobExport,
    JobImport,
    JobImportItem,
    JobImportResult,
)
from app.services import audit as audit_service
from app.services.auth import Principal
from app.services.task import job_info
from app.tasks import commands, specs, stored_triggers, trigger_specs
from app.tasks.client import SchedulerClient
from app.tasks.jobs import BUILTIN_JOB_IDS, check_managed, registry
from app.tasks.jobs.scraping import is_bot_job

Errors = list[dict[str, Any]]


async def export_jobs(db: AsyncSession) -> JobExport:
    """Every job but the bot jobs, which follow their bot configs (and are made again
    from them), by id."""
    jobs: list[ExportedJob] = []
    for row in await job_crud.list_all(db):
        if is_bot_job(row.id):
            continue
        job = job_info(row)
        jobs.append(
            ExportedJob(
                id=job.id,
                name=job.name,
                task=job.task,
                params=job.params or {},
                trigger=job.trigger_spec or {},
                timeout_seconds=job.timeout_seconds,
                retry=job.retry,
                pause_after_failures=job.pause_after_failures,
                overlap=job.overlap,
                catchup_window_seconds=job.catchup_window_seconds,
                max_instances=job.max_instances,
                misfire_grace_time=job.misfire_grace_time,
                coalesce=job.coalesce,
                paused=job.paused,
                next_run_time=job.next_run_time,
            )
        )
    return JobExport(jobs=jobs)


def _located(index: int, job_id: str | None, errors: Iterable[Mapping[str, Any]]) -> Errors:
    """Errors of one job, as a 422 shows them: under `jobs[index]`, naming the job."""
    return [
        {
            "loc": ["body", "jobs", index, *error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", "value_error"),
            "job_id": job_id,
        }
        for error in errors
    ]


def _one(index: int, job_id: str | None, field: str, msg: str) -> Errors:
    return _located(index, job_id, [{"loc": [field], "msg": msg}])


def _from_app_error(index: int, job_id: str, exc: AppError, field: str) -> Errors:
    """A job check's own error (its loc starts at `body`) under `jobs[index]`."""
    if isinstance(exc.detail, list):
        return _located(
            index,
            job_id,
            [{**error, "loc": list(error.get("loc", ()))[1:]} for error in exc.detail],
        )
    return _one(index, job_id, field, str(exc.detail))


async def _check_job(
    db: AsyncSession, settings: Settings, index: int, item: JobImportItem
) -> Errors:
    if is_bot_job(item.id):
        try:
            check_managed(item.id, "imported")
        except AppError as exc:
            return _one(index, item.id, "id", str(exc.detail))
    errors: Errors = []
    try:
        definition, parsed = specs.check_task(registry, item.task, item.params)
        if definition.check is not None:
            await definition.check(db, settings, parsed)
    except Invalid as exc:
        errors += _from_app_error(index, item.id, exc, "params")
    try:
        specs.check_trigger(item.trigger)
    except Invalid as exc:
        errors += _from_app_error(index, item.id, exc, "trigger")
    if item.paused and item.next_run_time is not None:
        errors += _one(index, item.id, "next_run_time", "a paused job has no next run time")
    return errors


def _check_against_stored(
    mode: str, index: int, item: JobImportItem, stored: APSchedulerJob | None
) -> Errors:
    if stored is not None and mode == "create":
        return _one(index, item.id, "id", f"a job with id {item.id!r} already exists")
    if item.id in BUILTIN_JOB_IDS:
        if stored is None:
            try:
                check_managed(item.id, "created")
            except AppError as exc:
                return _one(index, item.id, "id", str(exc.detail))
        current = job_info(stored) if stored is not None else None
        if current is not None and (current.task, current.params or {}) != (
            item.task,
            item.params,
        ):
            return _one(
                index, item.id, "task", f"job {item.id!r} is built in; its task cannot change"
            )
    return []


async def _checked(
    db: AsyncSession, settings: Settings, data: JobImport
) -> tuple[list[JobImportItem], dict[str, APSchedulerJob]]:
    """The import's jobs and those of them already stored; `Invalid` listing every
    error of every job if any job is wrong."""
    errors: Errors = []
    items: list[tuple[int, JobImportItem]] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(data.jobs):
        raw_id = raw.get("id")
        job_id = raw_id if isinstance(raw_id, str) else None
        if job_id is not None:
            if job_id in first:
                errors += _one(
                    index,
                    job_id,
                    "id",
                    f"{job_id!r} is also jobs[{first[job_id]}]: an import gives each job once",
                )
                continue
            first[job_id] = index
        try:
            item = JobImportItem.model_validate(raw)
        except ValidationError as exc:
            errors += _located(index, job_id, exc.errors(include_input=False))
            continue
        job_errors = await _check_job(db, settings, index, item)
        if job_errors:
            errors += job_errors
            continue
        items.append((index, item))
    stored = await job_crud.get_many(db, [item.id for _, item in items])
    for index, item in items:
        errors += _check_against_stored(data.mode, index, item, stored.get(item.id))
    if errors:
        raise Invalid(errors)
    return [item for _, item in items], stored


def _stored_next_run(row: APSchedulerJob, trigger: BaseTrigger) -> datetime | None:
    """A stored job's next run time, if it is to be kept under `trigger`: the job is not
    paused and fires on the same pattern."""
    state: dict[str, Any] = pickle.loads(row.job_state)
    next_run: datetime | None = state.get("next_run_time")
    if next_run is None:
        return None
    if stored_triggers.signature(state["trigger"]) != stored_triggers.signature(trigger):
        return None
    return next_run


def _resolved(
    item: JobImportItem, stored: APSchedulerJob | None, now: datetime
) -> tuple[commands.ImportedJob, JobInfo]:
    """The job exactly as the leader is to store it, and as the audit entry shows it.
    Its next run time is decided here: the one the import gives, else the stored job's
    (see `commands.ImportJobs`), else the trigger's next after now. An interval without
    `start_date` is anchored now, as `POST /tasks` anchors it, so that the leader builds
    the same trigger."""
    spec = item.trigger
    if isinstance(spec, trigger_specs.IntervalSpec) and spec.start_date is None:
        spec = spec.model_copy(update={"start_date": now + spec.interval})
    trigger = trigger_specs.build_trigger(spec)
    next_run: datetime | None = None
    if not item.paused:
        next_run = item.next_run_time
        if next_run is None and stored is not None:
            next_run = _stored_next_run(stored, trigger)
        if next_run is None:
            next_run = trigger.get_next_fire_time(None, now)
    job = commands.ImportedJob(
        id=item.id,
        name=item.name,
        task=item.task,
        params=item.params,
        trigger=spec,
        timeout_seconds=item.timeout_seconds,
        retry=item.retry,
        pause_after_failures=item.pause_after_failures,
        overlap=item.overlap,
        catchup_window_seconds=item.catchup_window_seconds,
        max_instances=item.max_instances,
        misfire_grace_time=item.misfire_grace_time,
        coalesce=item.coalesce,
        paused=item.paused,
        next_run_time=next_run,
    )
    shown = JobInfo(
        id=item.id,
        name=item.name or item.id,
        trigger=str(trigger),
        next_run_time=next_run.astimezone(UTC) if next_run is not None else None,
        paused=next_run is None,
        task=item.task,
        params=item.params,
        trigger_spec=stored_triggers.describe_trigger(trigger),
        timeout_seconds=item.timeout_seconds,
        retry=item.retry,
        pause_after_failures=item.pause_after_failures,
        overlap=item.overlap,
        catchup_window_seconds=item.catchup_window_seconds,
        max_instances=item.max_instances,
        misfire_grace_time=item.misfire_grace_time,
        coalesce=item.coalesce,
    )
    return job, shown


async def import_jobs(
    db: AsyncSession,
    client: SchedulerClient,
    data: JobImport,
    actor: Principal,
    settings: Settings,
) -> JobImportResult:
    max_jobs = settings.TASK_IMPORT_MAX_JOBS
    if len(data.jobs) > max_jobs:
        raise Invalid(
            f"at most {max_jobs} jobs in one import (TASK_IMPORT_MAX_JOBS); "
            f"this one has {len(data.jobs)}",
            field="jobs",
        )
    items, stored = await _checked(db, settings, data)
    updated = sum(item.id in stored for item in items)
    if data.dry_run:
        return JobImportResult(
            mode=data.mode, dry_run=True, created=len(items) - updated, updated=updated
        )
    now = datetime.now(UTC)
    jobs: list[commands.ImportedJob] = []
    entries: list[dict[str, Any]] = []
    for item in items:
        row = stored.get(item.id)
        job, shown = _resolved(item, row, now)
        jobs.append(job)
        entries.append(
            audit_service.intent(
                actor,
                AuditAction.CREATE if row is None else AuditAction.MODIFY,
                item.id,
                before=None if row is None else audit_service.job_snapshot(job_info(row)),
                after=audit_service.job_snapshot(shown),
                reason=data.reason,
            )
        )
    result = await client.submit(
        commands.ImportJobs(mode=data.mode, jobs=jobs), audit={"entries": entries}
    )
    return JobImportResult(
        mode=data.mode,
        dry_run=False,
        created=int(result.get("created", len(items) - updated)),
        updated=int(result.get("updated", updated)),
    )
