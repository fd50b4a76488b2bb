"""Task admin API: reads for viewers, pause, resume and run for operators, the rest for
admins (`app.api.deps`). Static paths are declared before `/{job_id}`:
routes match in order, and `/system/stats` would otherwise reach `/{job_id}/stats`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status

from app.api.deps import (
    Admin,
    IdPath,
    OffsetQuery,
    Operator,
    SchedulerDep,
    SessionDep,
    SettingsDep,
    Viewer,
)
from app.api.responses import BODY, ROLE, errors
from app.api.routing import StrictJSONRoute
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.schemas.audit import REASON_MAX_LENGTH, AuditEntryPublic
from app.schemas.common import Page
from app.schemas.task import (
    BackfillRequest,
    BackfillResponse,
    JobActionRequest,
    JobActionResponse,
    JobCreate,
    JobInfo,
    JobPage,
    JobStatsResponse,
    JobUpdate,
    ResumeRequest,
    SystemStats,
    TaskExecutionDetail,
    TaskExecutionResponse,
    TaskInfo,
    Timeline,
    TriggerPreview,
    TriggerPreviewResponse,
)
from app.schemas.task_transfer import (
    IMPORT_MAX_BODY_BYTES,
    JobExport,
    JobImport,
    JobImportResult,
)
from app.schemas.types import String, Timestamp
from app.services import audit as audit_service
from app.services import task as task_service
from app.services import task_transfer as transfer_service
from app.tasks.manager import TaskManager

router = APIRouter(
    prefix="/tasks", tags=["tasks"], route_class=StrictJSONRoute, responses=errors(ROLE)
)

JobId = Annotated[String, Path(max_length=191)]
# Why, for the audit log. Writes may give it in their JSON body instead.
ReasonQuery = Annotated[
    String | None,
    Query(min_length=1, max_length=REASON_MAX_LENGTH, description="Why (audit log)"),
]


# Pause, resume, run and delete take the reason in the query or in a JSON body; the
# body's wins, as on create and change.
ActionBody = Annotated[JobActionRequest | None, Body()]


@router.get("", responses=errors(422))
async def list_jobs(
    db: SessionDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: OffsetQuery = 0,
) -> JobPage:
    """All jobs, by id, a page at a time."""
    return await task_service.list_jobs(db, limit=limit, offset=offset)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(BODY, 409, 503))
async def create_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Admin,
    body: JobCreate,
    reason: ReasonQuery = None,
) -> JobInfo:
    """Create a job that runs a registered task on a trigger."""
    return await task_service.create_job(db, scheduler, body, actor, reason)


@router.get("/system/stats")
async def system_stats(db: SessionDep, scheduler: SchedulerDep, _: Viewer) -> SystemStats:
    """Job counts (paused ones too), the scheduler leader, and recent outcomes."""
    return await task_service.system_stats(db, scheduler)


@router.get("/registry")
async def list_registered_tasks(_: Viewer) -> list[TaskInfo]:
    """The tasks a job can run, with the JSON schema of their params."""
    return task_service.list_tasks()


@router.post("/preview", responses=errors(BODY))
async def preview_trigger(_: Viewer, body: TriggerPreview) -> TriggerPreviewResponse:
    """The next fire times of a trigger, validated as job creation validates it."""
    return task_service.preview(body)


@router.get("/export")
async def export_jobs(db: SessionDep, _: Viewer) -> JobExport:
    """Every job (bot jobs aside: they follow their bot configs) as `POST /import` takes it."""
    return await transfer_service.export_jobs(db)


@router.post("/import", responses=errors(BODY, 409, 503), max_body_size=IMPORT_MAX_BODY_BYTES)
async def import_jobs(
    db: SessionDep, scheduler: SchedulerDep, settings: SettingsDep, actor: Admin, body: JobImport
) -> JobImportResult:
    """Create (`create`) or create and replace (`upsert`) many jobs at once. Every job is
    checked first: if any is wrong nothing is imported, and the 422 names each error's
    job (`job_id`). The body may be up to 32 MiB."""
    return await transfer_service.import_jobs(db, scheduler, body, actor, settings)


@router.get("/executions/{execution_id}", responses=errors(404, 422))
async def get_execution(db: SessionDep, _: Viewer, execution_id: IdPath) -> TaskExecutionDetail:
    """One run, with its traceback and what it logged (`logs`)."""
    return await TaskManager(db).get_execution_detail(execution_id)


@router.post(
    "/executions/{execution_id}/cancel",
    response_model=TaskExecutionResponse,
    responses=errors(BODY, 404, 409, 503),
)
async def cancel_execution(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Operator,
    execution_id: IdPath,
    reason: ReasonQuery = None,
    body: ActionBody = None,
) -> TaskExecution:
    """Cancel a run: a running one is stopped (cooperatively: at its next `await`), a
    queued one is dropped; either is recorded `cancelled` with who cancelled it. 409 if
    it has finished."""
    return await task_service.cancel_execution(
        db, scheduler, execution_id, actor, body.reason if body and body.reason else reason
    )


@router.get("/{job_id}", responses=errors(404, 422))
async def get_job(db: SessionDep, _: Viewer, job_id: JobId) -> JobInfo:
    return await task_service.get_job(db, job_id)


@router.patch("/{job_id}", responses=errors(BODY, 404, 409, 503))
async def update_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Admin,
    job_id: JobId,
    body: JobUpdate,
    reason: ReasonQuery = None,
) -> JobInfo:
    """Change a job. Its schedule moves only if its trigger changes; paused stays paused."""
    return await task_service.update_job(db, scheduler, job_id, body, actor, reason)


@router.delete("/{job_id}", responses=errors(BODY, 404, 409, 422, 503))
async def delete_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Admin,
    job_id: JobId,
    reason: ReasonQuery = None,
    body: ActionBody = None,
) -> JobActionResponse:
    return await task_service.job_action(
        db, scheduler, job_id, "remove", actor, body.reason if body and body.reason else reason
    )


@router.post("/{job_id}/pause", responses=errors(BODY, 404, 422, 503))
async def pause_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Operator,
    job_id: JobId,
    reason: ReasonQuery = None,
    body: ActionBody = None,
) -> JobActionResponse:
    """Stop the job starting runs: no new slots, and its `waiting` runs (retries, slots
    buffered by its overlap policy) stay waiting until it is resumed. A run already going
    ends as usual."""
    return await task_service.job_action(
        db, scheduler, job_id, "pause", actor, body.reason if body and body.reason else reason
    )


@router.post("/{job_id}/resume", responses=errors(BODY, 404, 422, 503))
async def resume_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Operator,
    job_id: JobId,
    reason: ReasonQuery = None,
    body: Annotated[ResumeRequest | None, Body()] = None,
) -> JobActionResponse:
    """`catch_up` (default false): also run the slots missed while the job was paused,
    those younger than its `catchup_window_seconds` (once with `coalesce`); a job
    without a window runs only the latest missed slot, once."""
    return await task_service.resume_job(
        db, scheduler, job_id, body or ResumeRequest(), actor, reason
    )


@router.post(
    "/{job_id}/run", status_code=status.HTTP_202_ACCEPTED, responses=errors(BODY, 404, 409, 503)
)
async def run_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    actor: Operator,
    job_id: JobId,
    reason: ReasonQuery = None,
    body: ActionBody = None,
) -> JobActionResponse:
    """Run now, through the scheduler (recorded as `manual`; 409 if already running at
    its instance limit). The schedule does not move."""
    return await task_service.job_action(
        db, scheduler, job_id, "run", actor, body.reason if body and body.reason else reason
    )


@router.post(
    "/{job_id}/backfill", status_code=status.HTTP_202_ACCEPTED, responses=errors(BODY, 404, 503)
)
async def backfill_job(
    db: SessionDep,
    scheduler: SchedulerDep,
    settings: SettingsDep,
    actor: Operator,
    job_id: JobId,
    body: BackfillRequest,
    reason: ReasonQuery = None,
) -> BackfillResponse:
    """Run every slot of the job's trigger in `[start, end)` (all past; at most
    `BACKFILL_MAX_RUNS`), one at a time in order, each recorded `backfill` at its own
    `scheduled_at`. A slot that has a run already is not run again; while the job runs,
    the next slot waits. Answers with how many slots the range holds."""
    return await task_service.backfill(db, scheduler, settings, job_id, body, actor, reason)


@router.get(
    "/{job_id}/executions", response_model=list[TaskExecutionResponse], responses=errors(422)
)
async def list_executions(
    db: SessionDep,
    _: Viewer,
    job_id: JobId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetQuery = 0,
    status: ExecutionStatus | None = None,
    trigger: ExecutionTrigger | None = None,
) -> Sequence[TaskExecution]:
    """Runs of a job, newest first (also after the job itself was deleted)."""
    return await TaskManager(db).get_job_executions(job_id, limit, offset, status, trigger)


@router.get("/{job_id}/stats", responses=errors(422))
async def job_stats(db: SessionDep, _: Viewer, job_id: JobId) -> JobStatsResponse:
    return await TaskManager(db).get_job_stats(job_id)


@router.get("/{job_id}/audit", responses=errors(422))
async def job_audit(
    db: SessionDep,
    _: Viewer,
    job_id: JobId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: OffsetQuery = 0,
) -> Page[AuditEntryPublic]:
    """Who changed the job, when, how and why, newest first (also after it was deleted)."""
    return await audit_service.list_for_job(db, job_id, limit=limit, offset=offset)


@router.get("/{job_id}/timeline", responses=errors(404, 422))
async def job_timeline(
    db: SessionDep,
    _: Viewer,
    job_id: JobId,
    start: Annotated[Timestamp, Query(description="From this instant (with its offset)")],
    end: Annotated[Timestamp, Query(description="Up to, not including, this instant")],
) -> Timeline:
    """Every slot of the job's trigger in `[start, end)` with its outcome (at most 1000
    slots and 366 days), and the runs then that had no slot (run now)."""
    return await task_service.timeline(db, job_id, start, end)
