"""`HistoryWriter`: the leader's writes of `task_executions` rows, committed in groups.

Every run writes twice: its `running` row before it starts (the row claims the fire
time, so it must be committed before the task body runs) and its outcome after. Each
write waits for the statement that carries it; whatever arrives while one is in flight
goes into the next. At a few runs a second every write is its own statement; at
hundreds a second they share one, which is what lets the leader keep up with them on
one core.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.crud import task_execution as execution_crud
from app.db.session import create_engine_for
from app.models.task_execution import ExecutionStatus, ExecutionTrigger

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 64_000
# Rows per transaction; more waiting go into the next one.
MAX_GROUP = 500

R = TypeVar("R")


def json_safe(value: Any) -> Any:
    """A task's return value as something the JSON column accepts: datetimes, decimals,
    models and sets are converted, anything else unknown becomes its `repr`, and
    oversized results are cut down, so recording a result can never fail the run."""
    encoded = to_jsonable_python(value, fallback=repr, serialize_unknown=True)
    if not isinstance(encoded, dict):
        encoded = {"result": encoded}
    text = json.dumps(encoded, default=repr)
    if len(text) > MAX_RESULT_BYTES:
        return {"truncated": True, "preview": text[:2000]}
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class GroupCommit(Generic[R]):
    """Rows waiting for one kind of write. The first row starts a write; rows that arrive
    while it is in flight wait for the next one, which takes them all. `write` must be
    all or nothing for a group (one statement), or idempotent: a failed group is written
    again row by row."""

    def __init__(
        self,
        engine: AsyncEngine,
        write: Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[list[R]]],
    ) -> None:
        self._engine = engine
        self._write = write
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, row: dict[str, Any]) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def drain(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            alone = len(group) == 1
            if await self._commit(group, fail=alone) or alone:
                continue
            # One bad row must not cost the others their record: write each alone.
            logger.warning("a group of %d history writes failed; writing each alone", len(group))
            for one in group:
                await self._commit([one], fail=True)

    async def _commit(
        self, group: list[tuple[dict[str, Any], asyncio.Future[R]]], *, fail: bool
    ) -> bool:
        """Write one group and answer its waiters. On an error the waiters get it if
        `fail`, else they stay waiting for a retry."""
        try:
            async with self._engine.connect() as conn:
                results = await self._write(conn, [row for row, _ in group])
        except Exception as exc:
            if fail:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            return False
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
        return True


class HistoryWriter:
    """Run starts and run outcomes are separate groups, each with a write of its own in
    flight: a start, which the run waits for, never queues behind outcomes."""

    def __init__(self, database_url: str) -> None:
        # A group of starts is one INSERT (at most MAX_GROUP rows, under SQLAlchemy's
        # 1,000 rows per statement); outcomes are one UPDATE per row, which can be written
        # again. So autocommit loses nothing and makes a group a single round trip. No
        # pre-ping: after a lost connection one group fails, is written again row by row,
        # and the pool reconnects.
        self.engine = create_engine_for(
            database_url, pre_ping=False, isolation_level="AUTOCOMMIT", pool_size=2
        )
        self._starts = GroupCommit[int | None](self.engine, execution_crud.insert_runs)
        self._finishes = GroupCommit[None](self.engine, _finish_runs)

    async def record_start(
        self,
        *,
        job_id: str,
        job_name: str,
        task: str | None,
        trigger: ExecutionTrigger,
        scheduled_at: datetime | None,
        runner: str | None,
        status: ExecutionStatus = ExecutionStatus.RUNNING,
        error_message: str | None = None,
        claim_token: str | None = None,
        deadline_at: datetime | None = None,
        message: dict[str, Any] | None = None,
        attempt: int = 1,
        not_before: datetime | None = None,
    ) -> int | None:
        """The row for a run, committed before it starts (or, `queued`, before it is
        published to the workers). None: another scheduler already holds this fire
        time, so this one must not run it."""
        now = datetime.now(UTC)
        unfinished = status in (
            ExecutionStatus.RUNNING,
            ExecutionStatus.QUEUED,
            ExecutionStatus.WAITING,
        )
        row = {
            "job_id": job_id,
            "job_name": job_name,
            "task": task,
            "status": status,
            "trigger": trigger,
            "scheduled_at": scheduled_at,
            "started_at": now,
            "completed_at": None if unfinished else now,
            "error_message": error_message,
            "runner": runner,
            "created_at": now,
            "claim_token": claim_token,
            "deadline_at": deadline_at,
            "message": message,
            "published_at": now if message is not None else None,
            "attempt": attempt,
            "not_before": not_before,
        }
        if scheduled_at is None:
            # A manual run claims no slot, and in a group it would be a second statement.
            async with self.engine.connect() as conn:
                [execution_id] = await execution_crud.insert_runs(conn, [row])
            return execution_id
        return await self._starts.submit(row)

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
        await self._finishes.submit(row)

    async def cancel(self, execution_id: int, message: str) -> bool:
        """End a queued or running run as `cancelled`; False if it has finished."""
        async with self.engine.connect() as conn:
            return await execution_crud.cancel_unfinished(
                conn, execution_id, message, datetime.now(UTC)
            )

    async def aclose(self) -> None:
        """Wait for the writes already asked for."""
        await self._starts.drain()
        await self._finishes.drain()
        await self.engine.dispose()


async def _finish_runs(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[None]:
    await execution_crud.finish_runs(conn, rows)
    return [None] * len(rows)
