from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.selectable import TextualSelect

from app.db.types import UTCDateTime
from app.models.scheduler import APSchedulerJob
from app.models.task_execution import (
    ExecutionStatus,
    ExecutionTrigger,
    TaskExecution,
    TaskExecutionLog,
)

FAILURE_STATUSES = (ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.INTERRUPTED)


async def insert_runs(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int | None]:
    """Insert run rows; each gets its id, or None if its `(job_id, scheduled_at, attempt)`
    has a row already. This is the exactly-once guard: whoever inserts a slot's row first runs
    it. Scheduled rows go in as one statement; manual rows (no slot) one by one, since
    only their order could tell their ids apart."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(TaskExecution).on_conflict_do_nothing(
        index_elements=["job_id", "scheduled_at", "attempt"]
    )
    ids: list[int | None] = [None] * len(rows)
    slotted = [i for i, row in enumerate(rows) if row["scheduled_at"] is not None]
    if slotted:
        returned = await conn.execute(
            statement.returning(
                TaskExecution.id,
                TaskExecution.job_id,
                TaskExecution.scheduled_at,
                TaskExecution.attempt,
            ),
            [rows[i] for i in slotted],
        )
        by_slot = {(job_id, at, n): run_id for run_id, job_id, at, n in returned.all()}
        for i in slotted:
            # pop: a slot asked for twice in one group has one row, for the first asker.
            key = (rows[i]["job_id"], rows[i]["scheduled_at"], rows[i].get("attempt", 1))
            ids[i] = by_slot.pop(key, None)
    for i, row in enumerate(rows):
        if row["scheduled_at"] is None:
            ids[i] = (await conn.execute(statement.returning(TaskExecution.id), row)).scalar_one()
    return ids


async def finish_runs(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Write outcomes: each row is `{"run_id": id, column: value, ...}`, all with the
    same columns. Only a row still `running` takes its outcome: a run cancelled
    meanwhile stays `cancelled`."""
    statement = update(TaskExecution).where(
        TaskExecution.id == bindparam("run_id"), TaskExecution.status == ExecutionStatus.RUNNING
    )
    await conn.execute(statement, list(rows))


async def close_running(db: AsyncSession, *, keep_runner: str, now: datetime) -> int:
    """Mark rows still `running` from any other process as interrupted: that process
    died or lost leadership before it could write the outcome. Runs on workers (they
    have a claim token) are not the leader's: the worker or the reaper ends them."""
    result = await db.execute(
        update(TaskExecution)
        .where(
            TaskExecution.status == ExecutionStatus.RUNNING,
            (TaskExecution.runner != keep_runner) | TaskExecution.runner.is_(None),
            TaskExecution.claim_token.is_(None),
        )
        .values(
            status=ExecutionStatus.INTERRUPTED,
            completed_at=now,
            error_message="The process running this job stopped before it finished",
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _job_not_paused() -> ColumnElement[bool]:
    # A paused job's waiting rows wait for its resume. Left out here, in the SQL, so that
    # they never take the places of other jobs' rows in a poll's LIMIT. A row whose job
    # is gone has no job row at all: it is still started, to end `cancelled`.
    return ~(
        select(APSchedulerJob.id)
        .where(APSchedulerJob.id == TaskExecution.job_id, APSchedulerJob.next_run_time.is_(None))
        .exists()
    )


async def due_attempts(db: AsyncSession, now: datetime, limit: int) -> Sequence[TaskExecution]:
    """Waiting attempts whose backoff has passed, the longest due first; those of paused
    jobs are left waiting."""
    result = await db.execute(
        select(TaskExecution)
        .where(
            TaskExecution.status == ExecutionStatus.WAITING,
            TaskExecution.not_before <= now,
            _job_not_paused(),
        )
        .order_by(TaskExecution.not_before)
        .limit(limit)
    )
    return result.scalars().all()


def _buffered() -> Any:
    # A waiting row with no `not_before` waits for the job's running run, not a time.
    return and_(TaskExecution.status == ExecutionStatus.WAITING, TaskExecution.not_before.is_(None))


async def count_buffered(db: AsyncSession, job_id: str) -> int:
    """The job's slots buffered behind its running run (its overlap policy)."""
    value = await db.scalar(
        select(func.count())
        .select_from(TaskExecution)
        .where(TaskExecution.job_id == job_id, _buffered())
    )
    return int(value or 0)


async def buffered_heads(db: AsyncSession, limit: int) -> Sequence[TaskExecution]:
    """The oldest buffered slot of each job that has one and is not paused: the next to
    start when its job has no run going. At most `limit` jobs."""
    oldest = (
        select(func.min(TaskExecution.id).label("id"))
        .where(_buffered(), _job_not_paused())
        .group_by(TaskExecution.job_id)
        .limit(limit)
        .subquery()
    )
    result = await db.execute(
        select(TaskExecution)
        .join(oldest, TaskExecution.id == oldest.c.id)
        .order_by(TaskExecution.id)
    )
    return result.scalars().all()


async def unfinished_ids(db: AsyncSession, job_id: str) -> list[int]:
    """The job's runs not finished yet: running, queued or waiting."""
    result = await db.scalars(
        select(TaskExecution.id)
        .where(TaskExecution.job_id == job_id, TaskExecution.status.in_(UNFINISHED_STATUSES))
        .order_by(TaskExecution.id)
    )
    return list(result.all())


async def take_attempt(db: AsyncSession, execution_id: int, values: dict[str, Any]) -> bool:
    """Start a waiting attempt (`values`: its new status and what goes with it) in one
    conditional UPDATE: False if it is not waiting any more, so it starts once, or if its
    job was paused since the poll read it."""
    result = await db.execute(
        update(TaskExecution)
        .where(
            TaskExecution.id == execution_id,
            TaskExecution.status == ExecutionStatus.WAITING,
            _job_not_paused(),
        )
        .values(**values)
        .returning(TaskExecution.id)
    )
    return result.scalar_one_or_none() is not None


async def get(db: AsyncSession, execution_id: int) -> TaskExecution | None:
    return await db.get(TaskExecution, execution_id)


async def list_for_job(
    db: AsyncSession,
    job_id: str,
    *,
    limit: int,
    offset: int = 0,
    status: ExecutionStatus | None = None,
    trigger: ExecutionTrigger | None = None,
) -> Sequence[TaskExecution]:
    query = select(TaskExecution).where(TaskExecution.job_id == job_id)
    if status is not None:
        query = query.where(TaskExecution.status == status)
    if trigger is not None:
        query = query.where(TaskExecution.trigger == trigger)
    query = query.order_by(TaskExecution.started_at.desc(), TaskExecution.id.desc())
    return (await db.scalars(query.limit(limit).offset(offset))).all()


async def list_running(db: AsyncSession, limit: int = 100) -> Sequence[TaskExecution]:
    query = (
        select(TaskExecution)
        .where(TaskExecution.status == ExecutionStatus.RUNNING)
        .order_by(TaskExecution.started_at)
        .limit(limit)
    )
    return (await db.scalars(query)).all()


# SQLite allows at most 500 terms in one compound SELECT.
_UNION_CHUNK = 100


@dataclass(frozen=True)
class RecentRuns:
    """What a job's latest runs say: the newest one's status and start, and among them
    how many have finished and how many of those succeeded."""

    last_status: ExecutionStatus
    last_run_at: datetime
    finished: int
    successful: int


async def recent_runs(
    db: AsyncSession, job_ids: Sequence[str], *, per_job: int
) -> dict[str, RecentRuns]:
    """`RecentRuns` over the latest `per_job` runs of each job that has any.

    One LIMITed range scan of the `(job_id, started_at)` index per job, aggregated in the
    database and unioned: one row comes back per job, and the cost follows the number
    of jobs asked for, however long their histories are.
    """
    found: dict[str, RecentRuns] = {}
    for start in range(0, len(job_ids), _UNION_CHUNK):
        chunk = job_ids[start : start + _UNION_CHUNK]
        statement = _recent_runs_statement(len(chunk), per_job)
        rows = await db.execute(statement, {f"job_{i}": job_id for i, job_id in enumerate(chunk)})
        for job_id, last_status, last_run_at, finished, successful in rows.all():
            if last_status is not None:
                found[job_id] = RecentRuns(last_status, last_run_at, finished, successful)
    return found


@functools.lru_cache(maxsize=16)
def _recent_runs_statement(jobs: int, per_job: int) -> TextualSelect:
    # Written out once per size and reused. Not built from SQLAlchemy constructs: the
    # compiled-statement cache hashes and compares a construct's whole cache key on every
    # execution, and a 100-part UNION's key costs more to look up than the query takes;
    # a text statement's key is its string, whose hash Python keeps.
    unfinished = ", ".join(f"'{status.value}'" for status in UNFINISHED_STATUSES)
    newest_first = "ORDER BY started_at DESC, id DESC"
    parts = [
        f"SELECT :job_{i} AS job_id, "
        f"(SELECT status FROM task_executions WHERE job_id = :job_{i} {newest_first} "
        "LIMIT 1) AS last_status, "
        "max(started_at) AS last_run_at, "
        f"count(CASE WHEN status NOT IN ({unfinished}) THEN 1 END) AS finished, "
        f"count(CASE WHEN status = '{ExecutionStatus.SUCCESS.value}' THEN 1 END) AS successful "
        f"FROM (SELECT status, started_at FROM task_executions WHERE job_id = :job_{i} "
        f"{newest_first} LIMIT {int(per_job)}) AS latest"
        for i in range(jobs)
    ]
    job_id_type = TaskExecution.job_id.type
    return (
        text(" UNION ALL ".join(parts))
        .bindparams(*(bindparam(f"job_{i}", type_=job_id_type) for i in range(jobs)))
        .columns(
            column("job_id", job_id_type),
            column("last_status", TaskExecution.status.type),
            column("last_run_at", UTCDateTime()),
            column("finished", Integer()),
            column("successful", Integer()),
        )
    )


def _stats_query(job_id: str | None, is_postgresql: bool) -> Select[Any]:
    success = TaskExecution.status == ExecutionStatus.SUCCESS
    failure = TaskExecution.status.in_(FAILURE_STATUSES)
    columns: list[Any] = [
        func.count().label("total"),
        func.count(case((success, 1))).label("successful"),
        func.count(case((failure, 1))).label("failed"),
        func.count(case((TaskExecution.status == ExecutionStatus.RUNNING, 1))).label("running"),
        func.count(case((TaskExecution.status == ExecutionStatus.QUEUED, 1))).label("queued"),
        func.count(case((TaskExecution.status == ExecutionStatus.WAITING, 1))).label("waiting"),
        # Each later attempt exists because the one before it failed: a slot's earlier
        # attempts are these many failed rows, left out of the slot counts.
        func.count(case((TaskExecution.attempt > 1, 1))).label("retries"),
        func.avg(case((success, TaskExecution.duration_seconds))).label("avg_duration"),
        func.max(case((success, TaskExecution.started_at))).label("last_success"),
        func.max(case((failure, TaskExecution.started_at))).label("last_failure"),
        func.max(TaskExecution.started_at).label("last_run"),
    ]
    if is_postgresql:
        columns.append(
            func.percentile_cont(0.95)
            .within_group(TaskExecution.duration_seconds)
            .filter(success)
            .label("p95_duration")
        )
    query = select(*columns)
    if job_id is not None:
        query = query.where(TaskExecution.job_id == job_id)
    return query


async def stats(db: AsyncSession, job_id: str | None) -> dict[str, Any]:
    """Counts, average, last times and p95 duration in one aggregate (PostgreSQL); SQLite
    has no percentile function, so there p95 is one extra indexed lookup."""
    is_postgresql = db.get_bind().dialect.name == "postgresql"
    row = (await db.execute(_stats_query(job_id, is_postgresql))).mappings().one()
    result = dict(row)
    if not is_postgresql:
        result["p95_duration"] = await _p95_duration_sqlite(db, job_id, int(row["successful"]))
    for key in ("last_success", "last_failure", "last_run"):
        result[key] = _as_utc(result[key])
    return result


async def _p95_duration_sqlite(
    db: AsyncSession, job_id: str | None, successful: int
) -> float | None:
    if successful == 0:
        return None
    # `+status` keeps SQLite off the status index: without statistics it would prefer it
    # to the job's index and walk every successful run of every job.
    unindexed_status = UnaryExpression(
        TaskExecution.__table__.c.status, operator=custom_op("+"), type_=TaskExecution.status.type
    )
    where = [unindexed_status == ExecutionStatus.SUCCESS]
    if job_id is not None:
        where.append(TaskExecution.job_id == job_id)
    offset = min(successful - 1, int(0.95 * (successful - 1) + 0.5))
    query = (
        select(cast(TaskExecution.duration_seconds, Float))
        .where(and_(*where))
        .order_by(TaskExecution.duration_seconds)
        .limit(1)
        .offset(offset)
    )
    return await db.scalar(query)


def _as_utc(value: Any) -> Any:
    # Aggregates bypass the column type, so SQLite hands back text or naive values.
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, sqlite.dialect())


async def status_counts_since(db: AsyncSession, since: datetime) -> dict[str, int]:
    query = (
        select(TaskExecution.status, func.count())
        .where(TaskExecution.started_at >= since)
        .group_by(TaskExecution.status)
    )
    return {str(status): int(count) for status, count in (await db.execute(query)).all()}


async def delete_batch_older_than(
    db: AsyncSession, cutoff: datetime, after: datetime | None, limit: int
) -> tuple[int, datetime | None]:
    """Delete up to `limit` of the oldest finished rows created before `cutoff` (and not
    before `after`: where the previous batch ended, so a batch never walks the index
    entries of rows deleted before it). Returns how many, and the last one's creation
    time. Set-based: no row is loaded as an object. Rows still queued, running or
    waiting are kept; their logs go with the rows (`ON DELETE CASCADE`)."""
    where = [TaskExecution.created_at < cutoff, TaskExecution.status.not_in(UNFINISHED_STATUSES)]
    if after is not None:
        where.append(TaskExecution.created_at >= after)
    batch = (
        select(TaskExecution.id)
        .where(*where)
        .order_by(TaskExecution.created_at)
        .limit(limit)
        .scalar_subquery()
    )
    statement = (
        delete(TaskExecution)
        .where(TaskExecution.id.in_(batch))
        .returning(TaskExecution.created_at)
        .execution_options(synchronize_session=False)
    )
    created = (await db.scalars(statement)).all()
    return len(created), max(created, default=None)


async def add_logs(
    db: AsyncSession, execution_id: int, lines: list[dict[str, Any]], *, truncated: bool
) -> None:
    db.add(TaskExecutionLog(execution_id=execution_id, lines=lines, truncated=truncated))
    await db.flush()


async def get_logs(db: AsyncSession, execution_id: int) -> TaskExecutionLog | None:
    return await db.get(TaskExecutionLog, execution_id)


async def list_in_window(
    db: AsyncSession, job_id: str, *, start: datetime, end: datetime, limit: int
) -> Sequence[TaskExecution]:
    """The job's runs for slots in `[start, end)`, and its runs without a slot (run now)
    that started then, oldest first."""
    in_window = and_(TaskExecution.scheduled_at >= start, TaskExecution.scheduled_at < end)
    unslotted = and_(
        TaskExecution.scheduled_at.is_(None),
        TaskExecution.started_at >= start,
        TaskExecution.started_at < end,
    )
    query = (
        select(TaskExecution)
        .where(TaskExecution.job_id == job_id, in_window | unslotted)
        .order_by(TaskExecution.id)
        .limit(limit)
    )
    return (await db.scalars(query)).all()


async def first_started(db: AsyncSession, job_id: str) -> datetime | None:
    value = await db.scalar(
        select(func.min(TaskExecution.started_at)).where(TaskExecution.job_id == job_id)
    )
    return _as_utc(value)  # type: ignore[no-any-return]


# --- the broker executor's transitions ------------------------------------------------
# Each is one conditional UPDATE, so of two processes racing for a row exactly one
# changes it, and whatever it reports (metrics, alerts) is reported once. They use the
# database's clock where they compare with a heartbeat or a deadline.

UNFINISHED_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
NOTIFY_DONE_CHANNEL = "task_executions_done"


def seconds(value: float | Any) -> Any:
    """An interval of `value` seconds (PostgreSQL)."""
    return func.make_interval(0, 0, 0, 0, 0, 0, cast(value, Float))


def _is_postgresql(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "postgresql"


async def claim(
    db: AsyncSession,
    execution_id: int,
    token: str,
    runner: str,
    now: datetime,
    deadline_at: datetime,
) -> bool:
    """The one claim of a queued run: False if it is not queued with this token any more
    (a duplicate delivery, or a run already reaped)."""
    result = await db.execute(
        update(TaskExecution)
        .where(
            TaskExecution.id == execution_id,
            TaskExecution.claim_token == token,
            TaskExecution.status == ExecutionStatus.QUEUED,
        )
        .values(
            status=ExecutionStatus.RUNNING, runner=runner, started_at=now, deadline_at=deadline_at
        )
        .returning(TaskExecution.id)
    )
    return result.scalar_one_or_none() is not None


async def finish_claimed(
    db: AsyncSession, execution_id: int, runner: str, values: dict[str, Any]
) -> bool:
    """Write the outcome only if the run is still `running` on `runner` (the fence): a
    run the leader reaped meanwhile keeps the outcome it was given."""
    result = await db.execute(
        update(TaskExecution)
        .where(
            TaskExecution.id == execution_id,
            TaskExecution.status == ExecutionStatus.RUNNING,
            TaskExecution.runner == runner,
        )
        .values(**values)
        .returning(TaskExecution.id)
    )
    written = result.scalar_one_or_none() is not None
    if written and _is_postgresql(db):
        await notify_done(db, [execution_id])
    return written


async def cancel_unfinished(
    conn: AsyncConnection, execution_id: int, message: str, now: datetime
) -> bool:
    """The one transition of a queued or running run to `cancelled`; False if it has
    finished already (or does not exist). A worker running it sees that the row is no
    longer its own and stops, and its late outcome is fenced off (`finish_claimed`)."""
    result = await conn.execute(
        update(TaskExecution)
        .where(
            TaskExecution.id == execution_id,
            TaskExecution.status.in_(UNFINISHED_STATUSES),
        )
        .values(status=ExecutionStatus.CANCELLED, completed_at=now, error_message=message)
        .returning(TaskExecution.id)
    )
    if result.scalar_one_or_none() is None:
        return False
    if conn.dialect.name == "postgresql":
        # The leader's pool waits for this run's outcome: tell it at once.
        await conn.execute(select(func.pg_notify(NOTIFY_DONE_CHANNEL, str(execution_id))))
    return True


async def notify_done(db: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await db.execute(select(func.pg_notify(NOTIFY_DONE_CHANNEL, ",".join(str(i) for i in ids))))


async def close_own_runs(db: AsyncSession, runner: str, now: datetime) -> int:
    """A worker starting again under its id closes the runs its previous process left."""
    result = await db.execute(
        update(TaskExecution)
        .where(TaskExecution.status == ExecutionStatus.RUNNING, TaskExecution.runner == runner)
        .values(
            status=ExecutionStatus.INTERRUPTED,
            completed_at=now,
            error_message="The worker running this job restarted before it finished",
        )
        .returning(TaskExecution.id)
    )
    ids = list(result.scalars().all())
    if _is_postgresql(db):
        await notify_done(db, ids)
    return len(ids)


async def not_running_on(db: AsyncSession, ids: Sequence[int], runner: str) -> list[int]:
    """Of the runs a worker is running, those the database no longer gives it (reaped
    as timeout or interrupted): the worker cancels them."""
    if not ids:
        return []
    query = select(TaskExecution.id).where(
        TaskExecution.id.in_(list(ids)),
        (TaskExecution.status != ExecutionStatus.RUNNING) | (TaskExecution.runner != runner),
    )
    return list((await db.scalars(query)).all())


async def finished_among(db: AsyncSession, ids: Sequence[int]) -> Sequence[TaskExecution]:
    if not ids:
        return []
    query = select(TaskExecution).where(
        TaskExecution.id.in_(list(ids)), TaskExecution.status.not_in(UNFINISHED_STATUSES)
    )
    return (await db.scalars(query)).all()


async def unfinished_dispatched(db: AsyncSession) -> Sequence[TaskExecution]:
    """Runs handed to workers that have not ended: a new leader waits for them."""
    query = select(TaskExecution).where(
        TaskExecution.status.in_(UNFINISHED_STATUSES), TaskExecution.claim_token.is_not(None)
    )
    return (await db.scalars(query)).all()


async def _reap(db: AsyncSession, where: list[Any], values: dict[str, Any]) -> list[int]:
    result = await db.execute(
        update(TaskExecution).where(*where).values(**values).returning(TaskExecution.id)
    )
    ids = list(result.scalars().all())
    await notify_done(db, ids)
    return ids


async def reap_dead_workers(db: AsyncSession, lease_seconds: float) -> list[int]:
    """Running runs whose worker has not sent a heartbeat within the lease."""
    from app.models.worker import Worker

    alive = select(Worker.id).where(
        Worker.stopped_at.is_(None), Worker.heartbeat_at > func.now() - seconds(lease_seconds)
    )
    return await _reap(
        db,
        [
            TaskExecution.status == ExecutionStatus.RUNNING,
            TaskExecution.claim_token.is_not(None),
            TaskExecution.runner.not_in(alive),
        ],
        {
            "status": ExecutionStatus.INTERRUPTED,
            "completed_at": func.now(),
            "error_message": f"The worker running this job stopped sending heartbeats "
            f"(lease {lease_seconds:g} s)",
        },
    )


async def reap_timeouts(db: AsyncSession, lease_seconds: float) -> list[int]:
    """Running runs past their timeout by more than a lease: the worker did not end
    them itself (its loop is blocked), so the leader does, and the worker cancels them
    when it sees the row."""
    return await _reap(
        db,
        [
            TaskExecution.status == ExecutionStatus.RUNNING,
            TaskExecution.claim_token.is_not(None),
            TaskExecution.deadline_at + seconds(lease_seconds) < func.now(),
        ],
        {
            "status": ExecutionStatus.TIMEOUT,
            "completed_at": func.now(),
            "error_message": "The run went past its timeout and its worker did not end it",
        },
    )


async def reap_missed(db: AsyncSession) -> list[int]:
    """Queued runs no worker claimed before their deadline."""
    return await _reap(
        db,
        [
            TaskExecution.status == ExecutionStatus.QUEUED,
            TaskExecution.deadline_at < func.now(),
        ],
        {
            "status": ExecutionStatus.MISSED,
            "completed_at": func.now(),
            "error_message": "No worker took the run before its deadline",
        },
    )


async def take_republish(
    db: AsyncSession, older_than_seconds: float, limit: int = 1000
) -> list[tuple[int, dict[str, Any]]]:
    """The messages of runs queued and published longer ago than `older_than_seconds`,
    marked published now (so one leader republishes each once per period)."""
    due = (
        select(TaskExecution.id)
        .where(
            TaskExecution.status == ExecutionStatus.QUEUED,
            TaskExecution.message.is_not(None),
            TaskExecution.published_at < func.now() - seconds(older_than_seconds),
        )
        .limit(limit)
        .scalar_subquery()
    )
    result = await db.execute(
        update(TaskExecution)
        .where(TaskExecution.id.in_(due))
        .values(published_at=func.now())
        .returning(TaskExecution.id, TaskExecution.message)
    )
    return [(run_id, message) for run_id, message in result.all() if message is not None]


async def mark_published(db: AsyncSession, execution_id: int) -> None:
    await db.execute(
        update(TaskExecution)
        .where(TaskExecution.id == execution_id)
        .values(published_at=func.now())
    )


async def queue_depth(db: AsyncSession) -> int:
    query = select(func.count()).where(TaskExecution.status == ExecutionStatus.QUEUED)
    return int(await db.scalar(query) or 0)


async def running_on_workers(db: AsyncSession) -> dict[str | None, int]:
    """Runs a worker has claimed and not ended, by task."""
    query = (
        select(TaskExecution.task, func.count())
        .where(
            TaskExecution.status == ExecutionStatus.RUNNING, TaskExecution.claim_token.is_not(None)
        )
        .group_by(TaskExecution.task)
    )
    return {task: int(count) for task, count in (await db.execute(query)).all()}
