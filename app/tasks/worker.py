"""`PoolWorker`: a `reddit-bot worker` process of the broker executor. It takes run
messages of its task kinds, claims each run's queued row with one conditional UPDATE
(only then acks the message), runs the task through the same runner as the leader, and
writes the outcome fenced on `running` and its own id. A heartbeat row in `workers`
(database time) tells the leader it is alive; runs the leader ended meanwhile (timeout,
or reaped) are cancelled when the heartbeat sees them.

On SIGTERM it stops taking messages, gives running runs WORKER_SHUTDOWN_GRACE_SECONDS,
then ends the rest `interrupted`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core import metrics
from app.core.config import Settings
from app.crud import task_execution as execution_crud
from app.crud import worker as worker_crud
from app.db.session import Database
from app.models.task_execution import ExecutionStatus
from app.tasks import runner
from app.tasks.broker import Ack, BrokerUnavailable, RunBroker, RunMessage
from app.tasks.history import json_safe
from app.tasks.jobs import CATALOG, Catalog
from app.tasks.registry import TaskKind

logger = logging.getLogger(__name__)

BROKER_RETRY_SECONDS = 2.0


class WorkerIdInUse(Exception):
    pass


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class PoolWorker:
    def __init__(
        self,
        settings: Settings,
        broker: RunBroker,
        *,
        worker_id: str | None = None,
        kinds: tuple[TaskKind, ...] = ("io", "cpu"),
        catalog: Catalog = CATALOG,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.worker_id = worker_id or default_worker_id()
        self.kinds = kinds
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.database = Database(settings.DATABASE_URL)
        self.runtime = runner.Runtime(self.database, settings, catalog.registry)
        self.running: dict[int, asyncio.Task[Any]] = {}
        # Why a run was cancelled, written as its outcome.
        self._cancel_reasons: dict[int, str] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        heartbeat: asyncio.Task[None] | None = None
        registered = False
        try:
            await self._register()
            registered = True
            heartbeat = asyncio.create_task(self._heartbeat_loop())
            if not await self._connect():
                return
            logger.info(
                "worker %s serving %s with %d slots",
                self.worker_id,
                ",".join(self.kinds),
                self.settings.WORKER_CONCURRENCY,
            )
            await self.broker.consume(
                self.handle, self._stop, self.settings.WORKER_SHUTDOWN_GRACE_SECONDS
            )
            await self._drain()
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            with contextlib.suppress(Exception):
                await self.broker.stop()
            if registered:
                await self._deregister()
            await self.database.dispose()
            logger.info("worker %s stopped", self.worker_id)

    async def _register(self) -> None:
        async with self.database.transaction() as db:
            if await worker_crud.other_process_alive(
                db, self.worker_id, self.pid, self.host, self.settings.WORKER_LEASE_SECONDS
            ):
                raise WorkerIdInUse(
                    f"worker id {self.worker_id!r} is in use by a live process; "
                    "give this one another --id"
                )
            closed = await execution_crud.close_own_runs(db, self.worker_id, datetime.now(UTC))
            await self._write_heartbeat(db)
        if closed:
            logger.warning("closed %d run(s) a previous %s left running", closed, self.worker_id)

    async def _connect(self) -> bool:
        """Connect to the broker, retrying until it answers or the worker is stopped."""
        while not self._stop.is_set():
            try:
                await self.broker.start()
                return True
            except BrokerUnavailable as exc:
                logger.error("broker unreachable (%s); retrying in %g s", exc, BROKER_RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), BROKER_RETRY_SECONDS)
        return False

    async def _write_heartbeat(self, db: Any) -> None:
        await worker_crud.heartbeat(
            db,
            worker_id=self.worker_id,
            host=self.host,
            pid=self.pid,
            queues=",".join(self.kinds),
            concurrency=self.settings.WORKER_CONCURRENCY,
            running=len(self.running),
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.WORKER_HEARTBEAT_SECONDS)
            try:
                async with self.database.transaction() as db:
                    await self._write_heartbeat(db)
                    ended = await execution_crud.not_running_on(
                        db, list(self.running), self.worker_id
                    )
            except Exception as exc:
                logger.warning("worker heartbeat failed: %s", exc)
                continue
            for execution_id in ended:
                self._cancel(execution_id, "ended by the scheduler leader")

    def _cancel(self, execution_id: int, reason: str) -> None:
        task = self.running.get(execution_id)
        if task is not None and not task.done():
            self._cancel_reasons[execution_id] = reason
            task.cancel()

    async def _drain(self) -> None:
        """After the grace time: what still runs ends interrupted."""
        leftover = list(self.running.items())
        for execution_id, _ in leftover:
            self._cancel(
                execution_id,
                f"Interrupted: the worker stopped and the run did not finish within "
                f"{self.settings.WORKER_SHUTDOWN_GRACE_SECONDS:g} s",
            )
        if leftover:
            await asyncio.wait([task for _, task in leftover], timeout=10)

    async def _deregister(self) -> None:
        try:
            async with self.database.transaction() as db:
                await worker_crud.mark_stopped(db, self.worker_id)
        except Exception:
            logger.warning("could not mark worker %s stopped", self.worker_id, exc_info=True)

    # --- one delivery --------------------------------------------------------------

    async def handle(self, message: RunMessage, ack: Ack) -> None:
        try:
            await self._handle(message, ack)
        except Exception:
            # Never raised to the engine, which would only log it.
            logger.exception("run %s: delivery failed", message.execution_id)

    async def _handle(self, message: RunMessage, ack: Ack) -> None:
        claimed_at = datetime.now(UTC)
        try:
            async with self.database.transaction() as db:
                claimed = await execution_crud.claim(
                    db,
                    message.execution_id,
                    message.claim_token,
                    self.worker_id,
                    claimed_at,
                    claimed_at + timedelta(seconds=message.timeout_seconds),
                )
        except Exception:
            # Acked all the same: the row stays queued and the leader publishes it again.
            logger.exception("run %s: claim failed", message.execution_id)
            claimed = False
        await ack()
        if not claimed:
            metrics.pool_duplicate_dropped()
            logger.info("run %s: already claimed or ended; delivery dropped", message.execution_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self.running[message.execution_id] = task
        try:
            await self._run(message, claimed_at)
        finally:
            self.running.pop(message.execution_id, None)
            self._cancel_reasons.pop(message.execution_id, None)

    async def _run(self, message: RunMessage, started: datetime) -> None:
        status, result, error, tb = ExecutionStatus.SUCCESS, None, None, None
        try:
            result = await runner.run(
                task=message.task,
                params=message.params,
                timeout_seconds=message.timeout_seconds,
                execution_id=message.execution_id,
                job_id=message.job_id,
                runtime=self.runtime,
            )
        except runner.TaskTimeout as exc:
            status, error = ExecutionStatus.TIMEOUT, str(exc)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.get(message.execution_id, "Cancelled")
            status, error = ExecutionStatus.INTERRUPTED, reason
        except Exception as exc:
            status, error, tb = (
                ExecutionStatus.FAILED,
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
        await self._finish(message.execution_id, started, status, result, error, tb)

    async def _finish(
        self,
        execution_id: int,
        started: datetime,
        status: ExecutionStatus,
        result: Any,
        error: str | None,
        tb: str | None,
    ) -> None:
        completed = datetime.now(UTC)
        values = {
            "status": status,
            "completed_at": completed,
            "duration_seconds": round((completed - started).total_seconds(), 6),
            "result": None if result is None else json_safe(result),
            "error_message": error,
            "error_traceback": tb,
        }
        try:
            async with self.database.transaction() as db:
                written = await execution_crud.finish_claimed(
                    db, execution_id, self.worker_id, values
                )
        except Exception:
            logger.exception("run %s: could not write its outcome", execution_id)
            return
        if not written:
            logger.warning(
                "run %s: outcome %s not written, the leader had ended the run", execution_id, status
            )
