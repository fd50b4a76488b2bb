"""`HistoryWriter`: the leader's writes of `task_executions` rows, committed in groups.

Every run writes twice: its `running` row before it starts (the row claims the fire
time, so it must be committed before the task body runs) and its outcome after. Each
write waits for the transaction that carries it; whatever arrives while one transaction
is in flight goes into the next. At a few runs a second every write is its own
transaction; at hundreds a second they share one, which is what lets the leader keep
up with them on one core.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncEngine

from app.crud import task_execution as execution_crud
from app.models.task_execution import ExecutionStatus, ExecutionTrigger

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 64_000
# Rows per transaction; more waiting go into the next one.
MAX_GROUP = 500


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


class HistoryWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._starts: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._finishes: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

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
        """The row for a run, committed before it starts. None: another scheduler already
        holds this fire time, so this one must not run it."""
        now = datetime.now(UTC)
        row = {
            "job_id": job_id,
            "job_name": job_name,
            "task": task,
            "status": status,
            "trigger": trigger,
            "scheduled_at": scheduled_at,
            "started_at": now,
            "completed_at": None if status == ExecutionStatus.RUNNING else now,
            "error_message": error_message,
            "runner": runner,
            "created_at": now,
        }
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._starts.append((row, future))
        self._kick()
        return await future

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
        row = {
            "run_id": execution_id,
            "status": status,
            "completed_at": completed,
            "duration_seconds": round((completed - started_at).total_seconds(), 6),
            "result": None if result is None else json_safe(result),
            "error_message": error_message,
            "error_traceback": error_traceback,
        }
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishes.append((row, future))
        self._kick()
        await future

    async def aclose(self) -> None:
        """Wait for the writes already asked for."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._starts or self._finishes:
            starts, self._starts = self._starts[:MAX_GROUP], self._starts[MAX_GROUP:]
            finishes, self._finishes = self._finishes[:MAX_GROUP], self._finishes[MAX_GROUP:]
            alone = len(starts) + len(finishes) == 1
            if await self._commit(starts, finishes, fail=alone) or alone:
                continue
            # One bad row must not cost the others their record: write each alone.
            logger.warning("a group of history writes failed; writing each alone")
            for start in starts:
                await self._commit([start], [], fail=True)
            for finish in finishes:
                await self._commit([], [finish], fail=True)

    async def _commit(
        self,
        starts: list[tuple[dict[str, Any], asyncio.Future[int | None]]],
        finishes: list[tuple[dict[str, Any], asyncio.Future[None]]],
        *,
        fail: bool,
    ) -> bool:
        """Write one group in one transaction and answer its waiters. On an error the
        waiters get it if `fail`, else they keep waiting for a retry."""
        try:
            async with self._engine.begin() as conn:
                ids = await execution_crud.insert_runs(conn, [row for row, _ in starts])
                if finishes:
                    await execution_crud.finish_runs(conn, [row for row, _ in finishes])
        except Exception as exc:
            if fail:
                waiters: list[asyncio.Future[Any]] = [f for _, f in starts]
                waiters += [f for _, f in finishes]
                for future in waiters:
                    if not future.done():
                        future.set_exception(exc)
            return False
        for (_, started), execution_id in zip(starts, ids, strict=True):
            if not started.done():
                started.set_result(execution_id)
        for _, finished in finishes:
            if not finished.done():
                finished.set_result(None)
        return True
