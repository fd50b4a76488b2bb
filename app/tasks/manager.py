"""`TaskManager`: execution history, statistics and retention."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.crud import task_execution as execution_crud
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.schemas.task import JobStatsResponse

MAX_RESULT_BYTES = 64_000


def json_safe(value: Any) -> Any:
    """A task's return value as something the JSON column accepts: datetimes, decimals,
    models and sets are converted, anything else unknown becomes its `repr`, and
    oversized results are cut down, so recording a result can never fail the run."""
    try:
        encoded = jsonable_encoder(value)
    except Exception:
        encoded = json.loads(json.dumps(value, default=repr))
    if not isinstance(encoded, dict):
        encoded = {"result": encoded}
    text = json.dumps(encoded, default=repr)
    if len(text) > MAX_RESULT_BYTES:
        return {"truncated": True, "preview": text[:2000]}
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class TaskManager:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def record_start(
        self,
        *,
        job_id: str,
        job_name: str,
        task: str | None,
        trigger: ExecutionTrigger,
        scheduled_at: datetime | None,
        runner: str,
        status: ExecutionStatus = ExecutionStatus.RUNNING,
        error_message: str | None = None,
    ) -> int | None:
        """The row for a run, written before it starts. None: another scheduler already
        holds this fire time, so this one must not run it."""
        now = datetime.now(UTC)
        return await execution_crud.insert_unless_slot_taken(
            self.db,
            job_id=job_id,
            job_name=job_name,
            task=task,
            status=status,
            trigger=trigger,
            scheduled_at=scheduled_at,
            started_at=now,
            completed_at=None if status == ExecutionStatus.RUNNING else now,
            error_message=error_message,
            runner=runner,
            created_at=now,
        )

    async def record_finish(
        self,
        execution_id: int,
        *,
        status: ExecutionStatus,
        started_at: datetime,
        result: Any = None,
        error_message: str | None = None,
        error_traceback: str | None = None,
    ) -> None:
        completed = datetime.now(UTC)
        await execution_crud.finish(
            self.db,
            execution_id,
            status=status,
            completed_at=completed,
            duration_seconds=round((completed - started_at).total_seconds(), 6),
            result=None if result is None else json_safe(result),
            error_message=error_message,
            error_traceback=error_traceback,
        )

    async def close_interrupted(self, *, keep_runner: str) -> int:
        return await execution_crud.close_running(
            self.db, keep_runner=keep_runner, now=datetime.now(UTC)
        )

    async def get_job_executions(
        self,
        job_id: str,
        limit: int = 50,
        offset: int = 0,
        status: ExecutionStatus | None = None,
        trigger: ExecutionTrigger | None = None,
    ) -> Sequence[TaskExecution]:
        return await execution_crud.list_for_job(
            self.db, job_id, limit=limit, offset=offset, status=status, trigger=trigger
        )

    async def get_execution(self, execution_id: int) -> TaskExecution:
        execution = await execution_crud.get(self.db, execution_id)
        if execution is None:
            raise NotFound(f"Execution {execution_id} not found")
        return execution

    async def get_job_stats(self, job_id: str | None) -> JobStatsResponse:
        row = await execution_crud.stats(self.db, job_id)
        total = int(row["total"])
        successful = int(row["successful"])
        finished = total - int(row["running"])
        return JobStatsResponse(
            total_runs=total,
            successful_runs=successful,
            failed_runs=int(row["failed"]),
            running_runs=int(row["running"]),
            success_rate=round(successful / finished * 100, 2) if finished else 0.0,
            avg_duration_seconds=float(row["avg_duration"] or 0.0),
            p95_duration_seconds=(
                float(row["p95_duration"]) if row["p95_duration"] is not None else None
            ),
            last_run_at=row["last_run"],
            last_success_at=row["last_success"],
            last_failure_at=row["last_failure"],
        )

    async def cleanup_old_executions(self, days_to_keep: int = 30) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=days_to_keep)
        return await execution_crud.delete_older_than(self.db, cutoff)
