"""`TaskManager`: execution history, statistics and retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.crud import task_execution as execution_crud
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.schemas.task import JobStatsResponse, RunLogLine, TaskExecutionDetail


class TaskManager:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

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

    async def get_execution_detail(self, execution_id: int) -> TaskExecutionDetail:
        """One run with its traceback and its logs."""
        detail = TaskExecutionDetail.model_validate(await self.get_execution(execution_id))
        logs = await execution_crud.get_logs(self.db, execution_id)
        if logs is not None:
            detail.logs = [RunLogLine.model_validate(line) for line in logs.lines]
            detail.logs_truncated = logs.truncated
        return detail

    async def get_job_stats(self, job_id: str | None) -> JobStatsResponse:
        row = await execution_crud.stats(self.db, job_id)
        # A slot counts once, by its last attempt.
        retries = int(row["retries"])
        total = int(row["total"]) - retries
        successful = int(row["successful"])
        # Queued runs (waiting for a worker) and waiting attempts have not finished either.
        finished = total - int(row["running"]) - int(row["queued"]) - int(row["waiting"])
        return JobStatsResponse(
            total_runs=total,
            successful_runs=successful,
            failed_runs=max(int(row["failed"]) - retries, 0),
            running_runs=int(row["running"]),
            queued_runs=int(row["queued"]),
            waiting_runs=int(row["waiting"]),
            attempts=int(row["total"]),
            success_rate=round(successful / finished * 100, 2) if finished else 0.0,
            avg_duration_seconds=float(row["avg_duration"] or 0.0),
            p95_duration_seconds=(
                float(row["p95_duration"]) if row["p95_duration"] is not None else None
            ),
            last_run_at=row["last_run"],
            last_success_at=row["last_success"],
            last_failure_at=row["last_failure"],
        )
