"""The task admin API's rules: jobs read from the store, changes validated here and
applied by the scheduler leader, history and stats from `TaskManager`."""

from __future__ import annotations

import base64
import bisect
import pickle
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, Invalid, NotFound
from app.crud import audit as audit_crud
from app.crud import job as job_crud
from app.crud import task_execution as execution_crud
from app.models.audit import AuditAction, AuditEntry
from app.models.scheduler import APSchedulerJob
from app.models.task_execution import TaskExecution
from app.schemas.task import (
    BackfillRequest,
    BackfillResponse,
    JobActionResponse,
    JobCreate,
    JobInfo,
    JobPage,
    JobUpdate,
    ResumeRequest,
    RunningExecution,
    SystemStats,
    TaskInfo,
    Timeline,
    TimelineOutcome,
    TimelineSlot,
    TriggerPreview,
    TriggerPreviewResponse,
)
from app.services import audit as audit_service
from app.services import worker as worker_service
from app.services.auth import Principal
from app.tasks import (
    commands,
    humanize,
    overlap,
    retry_policy,
    specs,
    stored_triggers,
    trigger_specs,
    triggers,
)
from app.tasks.client import SchedulerClient
from app.tasks.jobs import BUILTIN_JOB_IDS, check_managed, registry
from app.tasks.jobs.scraping import bot_config_id_of, is_bot_job

# Last status and success rate in the job list are read from this many latest runs.
RECENT_RUNS = 50
RUNNING_SHOWN = 20
AUDITED_ACTIONS = {
    "pause": AuditAction.PAUSE,
    "resume": AuditAction.RESUME,
    "run": AuditAction.RUN,
    "remove": AuditAction.DELETE,
}


# Stored job states read lately, and what they read as: most jobs of a page have not
# changed since it was last shown, and reading a job from its pickled state (its trigger
# described in words and as JSON) costs more than the query that fetched it. Keyed by
# the state's bytes: a changed job is read again.
JOB_INFOS_KEPT = 1024
_job_infos: dict[tuple[str, bytes], JobInfo] = {}


def job_info(row: APSchedulerJob) -> JobInfo:
    """A stored job as `JobInfo`, read from its pickled state without importing (or
    running) anything of the job's own. Each call returns a copy of its own."""
    key = (row.id, row.job_state)
    info = _job_infos.get(key)
    if info is None:
        info = _read_job_info(row)
        if len(_job_infos) >= JOB_INFOS_KEPT:
            del _job_infos[next(iter(_job_infos))]
        _job_infos[key] = info
    return info.model_copy()


def _read_job_info(row: APSchedulerJob) -> JobInfo:
    state: dict[str, Any] = pickle.loads(row.job_state)
    kwargs: dict[str, Any] = state.get("kwargs") or {}
    trigger = state["trigger"]
    next_run = state.get("next_run_time")
    return JobInfo(
        id=row.id,
        name=state.get("name") or row.id,
        trigger=str(trigger),
        next_run_time=next_run.astimezone(UTC) if next_run else None,
        pending=False,
        paused=next_run is None,
        task=kwargs.get("task"),
        params=kwargs.get("params"),
        trigger_spec=stored_triggers.describe_trigger(trigger),
        trigger_description=humanize.describe(trigger),
        timeout_seconds=kwargs.get("timeout_seconds"),
        retry=retry_policy.stored_policy(kwargs.get("retry")),
        pause_after_failures=kwargs.get("pause_after_failures"),
        overlap=overlap.stored_overlap(kwargs, state.get("max_instances")),
        catchup_window_seconds=kwargs.get("catchup_window_seconds"),
        builtin=row.id in BUILTIN_JOB_IDS,
        bot_config_id=bot_config_id_of(row.id),
        func=state.get("func"),
        args=list(state.get("args") or []),
        kwargs=kwargs,
        executor=state.get("executor"),
        max_instances=state.get("max_instances"),
        misfire_grace_time=state.get("misfire_grace_time"),
        coalesce=state.get("coalesce"),
    )


async def with_recent_outcomes(db: AsyncSession, jobs: list[JobInfo]) -> list[JobInfo]:
    """Fill in last status and success rate, from the latest runs of these jobs only."""
    recent = await execution_crud.recent_runs(db, [job.id for job in jobs], per_job=RECENT_RUNS)
    for job in jobs:
        runs = recent.get(job.id)
        if runs is None:
            continue
        job.last_status, job.last_run_at = runs.last_status, runs.last_run_at
        # As in the job's stats: runs still going are not counted yet.
        if runs.finished:
            job.success_rate = round(runs.successful / runs.finished * 100, 2)
    return jobs


async def list_jobs(db: AsyncSession, *, limit: int, offset: int) -> JobPage:
    rows = await job_crud.list_page(db, limit=limit, offset=offset)
    total = await job_crud.count(db)
    items = await with_recent_outcomes(db, [job_info(r) for r in rows])
    return JobPage(items=items, total=total, limit=limit, offset=offset)


async def _load(db: AsyncSession, job_id: str) -> JobInfo:
    row = await job_crud.get(db, job_id)
    if row is None:
        raise NotFound(f"Job {job_id!r} not found")
    return job_info(row)


async def get_job(db: AsyncSession, job_id: str) -> JobInfo:
    [job] = await with_recent_outcomes(db, [await _load(db, job_id)])
    return job


async def _changed_job(db: AsyncSession, job_id: str, result: dict[str, Any]) -> JobInfo:
    """The job as the leader's change stored it (see `commands.JOB_STATE`), not as the
    table holds it by now; read from the table if the answer does not carry it."""
    state = result.get(commands.JOB_STATE)
    if not isinstance(state, str):
        return await get_job(db, job_id)
    stored = APSchedulerJob(id=job_id, job_state=base64.b64decode(state))
    [job] = await with_recent_outcomes(db, [job_info(stored)])
    return job


def list_tasks() -> list[TaskInfo]:
    return [
        TaskInfo(
            name=t.name,
            description=t.description,
            params_schema=t.params_model.model_json_schema(),
            default_timeout_seconds=t.default_timeout_seconds,
        )
        for t in registry.all()
    ]


async def _check_task(
    db: AsyncSession, settings: Settings, task: str, params: dict[str, Any]
) -> None:
    """The task exists and can run these params: they fit its model, and what they name
    exists (the run would only fail later, in the history, where nobody asked)."""
    definition, parsed = specs.check_task(registry, task, params)
    if definition.check is not None:
        await definition.check(db, settings, parsed)


async def create_job(
    db: AsyncSession,
    client: SchedulerClient,
    data: JobCreate,
    actor: Principal,
    reason: str | None = None,
) -> JobInfo:
    """`reason` from the body wins over one given beside it (the query string)."""
    check_managed(data.id, "created")
    await _check_task(db, client.settings, data.task, data.params)
    specs.check_trigger(data.trigger)
    if await job_crud.get(db, data.id) is not None:
        raise Conflict(f"A job with id {data.id!r} already exists")
    result = await client.submit(
        commands.AddJob.model_validate(
            {**data.model_dump(mode="json", exclude={"reason"}), "job_id": data.id}
        ),
        audit=audit_service.intent(
            actor, AuditAction.CREATE, data.id, reason=data.reason or reason
        ),
    )
    job = await _changed_job(db, data.id, result)
    await audit_service.complete(db, result, audit_service.job_snapshot(job))
    return job


async def update_job(
    db: AsyncSession,
    client: SchedulerClient,
    job_id: str,
    data: JobUpdate,
    actor: Principal,
    reason: str | None = None,
) -> JobInfo:
    current = await _load(db, job_id)
    changes = data.model_dump(mode="json", exclude_unset=True, exclude={"reason"})
    if is_bot_job(job_id) and {"task", "params", "trigger"} & changes.keys():
        check_managed(job_id, "given another task or trigger")
    if job_id in BUILTIN_JOB_IDS and {"task", "params"} & changes.keys():
        raise Conflict(f"Job {job_id!r} is built in; its task cannot change")
    if "task" in changes or "params" in changes:
        params = changes.get("params")
        await _check_task(
            db,
            client.settings,
            changes.get("task") or current.task or "",
            params if params is not None else current.params or {},
        )
    if data.trigger is not None:
        specs.check_trigger(data.trigger)
    for key in ("name", "task", "params", "trigger", "max_instances", "coalesce", "overlap"):
        if key in changes and changes[key] is None:
            raise Invalid(f"{key} cannot be null", field=key)
    if not changes:
        return await get_job(db, job_id)
    result = await client.submit(
        commands.ModifyJob.model_validate({**changes, "job_id": job_id}),
        audit=audit_service.intent(
            actor,
            AuditAction.MODIFY,
            job_id,
            before=audit_service.job_snapshot(current),
            reason=data.reason or reason,
        ),
    )
    job = await _changed_job(db, job_id, result)
    await audit_service.complete(db, result, audit_service.job_snapshot(job))
    return job


async def job_action(
    db: AsyncSession,
    client: SchedulerClient,
    job_id: str,
    action: commands.JobAction,
    actor: Principal,
    reason: str | None = None,
) -> JobActionResponse:
    current = await _load(db, job_id)
    if action == "remove":
        check_managed(job_id, "deleted")
    result = await client.submit(
        commands.JOB_ACTIONS[action](job_id=job_id),
        audit=audit_service.intent(
            actor,
            AUDITED_ACTIONS[action],
            job_id,
            before=None if action == "run" else audit_service.job_snapshot(current),
            reason=reason,
        ),
    )
    response = JobActionResponse(
        status=str(result.get("status", action)),
        job_id=job_id,
        execution_id=result.get("execution_id"),
    )
    after: dict[str, Any] | None = None
    if action == "run":
        after = {"status": response.status, "execution_id": response.execution_id}
    elif action != "remove" and (row := await job_crud.get(db, job_id)) is not None:
        after = audit_service.job_snapshot(job_info(row))
    await audit_service.complete(db, result, after)
    return response


async def resume_job(
    db: AsyncSession,
    client: SchedulerClient,
    job_id: str,
    data: ResumeRequest,
    actor: Principal,
    reason: str | None = None,
) -> JobActionResponse:
    """Resume the job. Without `catch_up` the slots missed while it was paused stay
    missed (the timeline shows them `paused`); with it, they run per the job's catch-up
    window (see `ResumeRequest`), one at a time in order, recorded `scheduled`."""
    current = await _load(db, job_id)
    slots: list[datetime] = []
    if data.catch_up and current.paused:
        slots = await _missed_while_paused(db, client.settings, job_id, current)
    result = await client.submit(
        commands.ResumeJob(job_id=job_id, catch_up=slots),
        audit=audit_service.intent(
            actor,
            AuditAction.RESUME,
            job_id,
            before=audit_service.job_snapshot(current),
            reason=data.reason or reason,
        ),
    )
    after: dict[str, Any] | None = None
    if (row := await job_crud.get(db, job_id)) is not None:
        after = audit_service.job_snapshot(job_info(row))
        if data.catch_up:
            after["catch_up"] = len(slots)
    await audit_service.complete(db, result, after)
    return JobActionResponse(
        status=str(result.get("status", "resumed")),
        job_id=job_id,
        catch_up=len(slots) if data.catch_up else None,
    )


async def _missed_while_paused(
    db: AsyncSession, settings: Settings, job_id: str, job: JobInfo
) -> list[datetime]:
    """The slots of a paused job since it was paused that a catch-up runs: those younger
    than its window (the latest only with coalesce), or the latest one without a window."""
    row = await job_crud.get(db, job_id)
    if row is None:
        raise NotFound(f"Job {job_id!r} not found")
    now = datetime.now(UTC)
    _, changes = _state_changes(
        await audit_crud.state_changes(db, job_id, until=now, limit=MAX_STATE_CHANGES)
    )
    paused_since = next((at for at, paused in reversed(changes) if paused), None)
    if paused_since is None:
        return []
    trigger = pickle.loads(row.job_state)["trigger"]
    window = job.catchup_window_seconds
    start = paused_since if window is None else max(paused_since, now - timedelta(seconds=window))
    if window is None or job.coalesce:
        latest = triggers.latest_fire_time(trigger, start, now)
        return [] if latest is None else [latest]
    limit = settings.BACKFILL_MAX_RUNS
    slots = triggers.fire_times_between(trigger, start, now, limit)
    if len(slots) > limit:
        raise Invalid(
            f"more than {limit} slots were missed within the catch-up window "
            "(BACKFILL_MAX_RUNS); resume without catch_up, then backfill",
            field="catch_up",
        )
    return slots


def _actor_name(actor: Principal) -> str:
    if actor.api_key is not None:
        return f"{actor.user.email} (API key {actor.api_key.name!r})"
    return actor.user.email


async def cancel_execution(
    db: AsyncSession,
    client: SchedulerClient,
    execution_id: int,
    actor: Principal,
    reason: str | None = None,
) -> TaskExecution:
    """Cancel a queued or running run through the leader, which ends it as `cancelled`
    (409 if it has finished, here or by the time the leader gets to it)."""
    run = await execution_crud.get(db, execution_id)
    if run is None:
        raise NotFound(f"Execution {execution_id} not found")
    if run.status not in execution_crud.UNFINISHED_STATUSES:
        raise Conflict(f"Execution {execution_id} has already finished ({run.status.value})")
    before = {"execution_id": execution_id, "status": run.status.value}
    message = f"Cancelled by {_actor_name(actor)}" + (f": {reason}" if reason else "")
    result = await client.submit(
        commands.CancelRun(job_id=run.job_id, execution_id=execution_id, message=message),
        audit=audit_service.intent(
            actor, AuditAction.CANCEL, run.job_id, before=before, reason=reason
        ),
    )
    await db.refresh(run)
    await audit_service.complete(
        db, result, {"execution_id": execution_id, "status": run.status.value}
    )
    return run


async def backfill(
    db: AsyncSession,
    client: SchedulerClient,
    settings: Settings,
    job_id: str,
    data: BackfillRequest,
    actor: Principal,
    reason: str | None = None,
) -> BackfillResponse:
    """Hand the leader every slot of the job's trigger in `[start, end)`; it runs them one
    at a time, in order, recorded `backfill` at their own `scheduled_at`."""
    if data.end <= data.start:
        raise Invalid("must be after start", field="end")
    if data.end > datetime.now(UTC):
        raise Invalid("must not be in the future: a backfill runs past slots", field="end")
    row = await job_crud.get(db, job_id)
    if row is None:
        raise NotFound(f"Job {job_id!r} not found")
    state: dict[str, Any] = pickle.loads(row.job_state)
    limit = settings.BACKFILL_MAX_RUNS
    slots = triggers.fire_times_between(state["trigger"], data.start, data.end, limit)
    if len(slots) > limit:
        raise Invalid(
            f"the range holds more than {limit} slots (BACKFILL_MAX_RUNS); choose a shorter one",
            field="end",
        )
    window = {"start": data.start.isoformat(), "end": data.end.isoformat(), "runs": len(slots)}
    result = await client.submit(
        commands.BackfillJob(job_id=job_id, slots=slots),
        audit=audit_service.intent(
            actor, AuditAction.BACKFILL, job_id, after=window, reason=data.reason or reason
        ),
    )
    return BackfillResponse(
        status=str(result.get("status", "accepted")), job_id=job_id, runs=len(slots)
    )


def preview(data: TriggerPreview) -> TriggerPreviewResponse:
    spec = data.trigger
    if data.timezone is not None:
        if "timezone" in spec.model_fields_set and spec.timezone != data.timezone:
            raise Invalid(
                f"the trigger runs in {spec.timezone}; give the time zone once", field="timezone"
            )
        spec = type(spec).model_validate(
            {**spec.model_dump(exclude_unset=True), "timezone": data.timezone}
        )
    specs.check_trigger(spec)
    trigger = trigger_specs.build_trigger(spec)
    return TriggerPreviewResponse(
        trigger=str(trigger),
        description=humanize.describe(trigger),
        timezone=spec.timezone,
        next_fire_times=triggers.next_fire_times(trigger, data.count),
    )


async def system_stats(db: AsyncSession, client: SchedulerClient) -> SystemStats:
    total, paused = await job_crud.counts(db)
    leader = await client.leader(db)
    since = datetime.now(UTC) - timedelta(hours=24)
    running = await execution_crud.list_running(db, limit=10_000)
    return SystemStats(
        total_jobs=total,
        active_jobs=total - paused,
        paused_jobs=paused,
        task_types=await job_crud.ids_by_prefix(db),
        scheduler_running=leader.alive,
        leader=leader,
        running_executions=len(running),
        running_now=[RunningExecution.model_validate(r) for r in running[:RUNNING_SHOWN]],
        last_24h=await execution_crud.status_counts_since(db, since),
        workers=await worker_service.list_workers(db, client.settings),
    )


# --- the timeline: a job's slots in a window and what became of each --------------

MAX_TIMELINE_SLOTS = 1000
MAX_TIMELINE_WINDOW = timedelta(days=366)
# Runs read for one timeline: every slot's attempts, and runs off the trigger.
MAX_TIMELINE_RUNS = 5 * MAX_TIMELINE_SLOTS
MAX_STATE_CHANGES = 10_000


def _query_error(name: str, message: str) -> Invalid:
    return Invalid([{"loc": ["query", name], "msg": message, "type": "value_error"}])


def _paused_at(changes: list[tuple[datetime, bool]], moment: datetime) -> bool | None:
    """Whether the job was paused at `moment` by its audit log (None: nothing known)."""
    state = None
    for at, paused in changes:
        if at > moment:
            break
        state = paused
    return state


def _state_changes(
    entries: Sequence[AuditEntry],
) -> tuple[datetime | None, list[tuple[datetime, bool]]]:
    """When the job was last created, and each change of its paused state."""
    created = None
    changes: list[tuple[datetime, bool]] = []
    for entry in entries:
        after = entry.after or {}
        if entry.action == AuditAction.CREATE:
            created = entry.created_at
            changes.append((entry.created_at, bool(after.get("paused", False))))
        elif isinstance(after.get("paused"), bool):
            changes.append((entry.created_at, after["paused"]))
        elif entry.action in (AuditAction.PAUSE, AuditAction.RESUME):
            changes.append((entry.created_at, entry.action == AuditAction.PAUSE))
    return created, changes


def _run_slot(time: datetime, runs: list[TaskExecution], trigger: str) -> TimelineSlot:
    return TimelineSlot(
        time=time,
        outcome=TimelineOutcome(runs[-1].status),
        trigger=trigger,
        execution_ids=[run.id for run in runs],
        attempts=len(runs),
    )


async def timeline(db: AsyncSession, job_id: str, start: datetime, end: datetime) -> Timeline:
    """Every slot of the job's trigger in `[start, end)` with its outcome, and the runs
    in that window that belong to no slot (run now), each marked by its trigger."""
    if end <= start:
        raise _query_error("end", "must be after start")
    if end - start > MAX_TIMELINE_WINDOW:
        raise _query_error("end", f"at most {MAX_TIMELINE_WINDOW.days} days after start")
    row = await job_crud.get(db, job_id)
    if row is None:
        raise NotFound(f"Job {job_id!r} not found")
    state: dict[str, Any] = pickle.loads(row.job_state)
    trigger = state["trigger"]
    next_run: datetime | None = state.get("next_run_time")
    slots = triggers.fire_times_between(trigger, start, end, MAX_TIMELINE_SLOTS)
    if len(slots) > MAX_TIMELINE_SLOTS:
        raise _query_error(
            "end", f"the window holds more than {MAX_TIMELINE_SLOTS} slots; choose a shorter one"
        )
    runs = await execution_crud.list_in_window(
        db, job_id, start=start, end=end, limit=MAX_TIMELINE_RUNS
    )
    created, changes = _state_changes(
        await audit_crud.state_changes(db, job_id, until=end, limit=MAX_STATE_CHANGES)
    )
    since = created or await execution_crud.first_started(db, job_id)
    # A jittered run starts up to `jitter` seconds after its slot.
    jitter = timedelta(seconds=getattr(trigger, "jitter", None) or 0)

    by_slot: dict[datetime, list[TaskExecution]] = {}
    off_slots: dict[tuple[str, datetime | int], list[TaskExecution]] = {}
    for run in runs:
        slot = None
        if run.scheduled_at is not None:
            index = bisect.bisect_right(slots, run.scheduled_at) - 1
            if index >= 0 and (
                slots[index] == run.scheduled_at or run.scheduled_at - slots[index] < jitter
            ):
                slot = slots[index]
        if slot is not None:
            by_slot.setdefault(slot, []).append(run)
        else:
            # Attempts at one time belong together; runs without a slot stand alone.
            key: tuple[str, datetime | int] = (
                str(run.trigger),
                run.scheduled_at if run.scheduled_at is not None else run.id,
            )
            off_slots.setdefault(key, []).append(run)

    now = datetime.now(UTC)
    paused_now = next_run is None
    entries: list[TimelineSlot] = []
    for slot in slots:
        slot_runs = by_slot.get(slot)
        if slot_runs:
            entries.append(_run_slot(slot, slot_runs, str(slot_runs[-1].trigger)))
            continue
        not_fired = slot >= now or (next_run is not None and slot >= next_run)
        if not not_fired and (since is None or slot < since):
            continue  # before the job existed
        paused = paused_now if not_fired else _paused_at(changes, slot)
        if paused:
            outcome = TimelineOutcome.PAUSED
        elif not_fired:
            outcome = TimelineOutcome.UPCOMING
        else:
            outcome = TimelineOutcome.MISSED
        entries.append(TimelineSlot(time=slot, outcome=outcome, trigger="scheduled"))
    for (trigger_name, _), group in off_slots.items():
        first = group[0]
        entries.append(_run_slot(first.scheduled_at or first.started_at, group, trigger_name))
    entries.sort(key=lambda entry: entry.time)
    return Timeline(job_id=job_id, start=start, end=end, slots=entries)
