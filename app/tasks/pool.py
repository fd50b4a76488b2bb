"""`Pool`: the scheduler leader's side of the broker executor.

- `run` publishes a run's queued row (already committed by the run path) and waits
  until the row is final, so APScheduler's instance limit, metrics and alerts see the
  run end on the leader as they do with local runs.
- Completion arrives through the database: workers `pg_notify` the run's id when they
  write an outcome (read at once), and a poll every `tend_seconds` catches what a lost
  notification missed.
- `_tend` (every few hundred milliseconds) reaps runs of dead workers (`interrupted`),
  runs past their timeout (`timeout`; their worker cancels them) and queued runs past
  their deadline (`missed`), and publishes again rows queued too long: the row is the
  outbox, so a message lost with a broker, a purged queue or a failed publish costs a
  delay, never a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from app.core import metrics
from app.core.config import Settings
from app.crud import task_execution as execution_crud
from app.crud import worker as worker_crud
from app.db.session import Database, create_engine_for
from app.models.task_execution import TaskExecution
from app.tasks.broker import BrokerUnavailable, RunBroker, RunMessage

logger = logging.getLogger(__name__)

BROKER_RETRY_SECONDS = 2.0
# Rows of workers silent this long are dropped from `workers`.
FORGET_WORKERS_SECONDS = 24 * 3600


class Pool:
    def __init__(self, settings: Settings, database: Database, broker: RunBroker) -> None:
        self.settings = settings
        self.database = database
        self.broker = broker
        self.connected = False
        self._waiting: dict[int, asyncio.Future[TaskExecution]] = {}
        # Runs workers said they ended (notifications), to read before the next poll.
        self._notified: set[int] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_engine = create_engine_for(database.url, pool=False)

    @property
    def tend_seconds(self) -> float:
        return min(1.0, self.settings.WORKER_LEASE_SECONDS / 4)

    async def start(self) -> None:
        # The broker is connected in the background: a leader keeps scheduling (rows
        # queue up, to be published once it answers) while the broker is down.
        self._tasks = [
            asyncio.create_task(self._connect_loop()),
            asyncio.create_task(self._listen_loop()),
            asyncio.create_task(self._tend_loop()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._waiting.values():
            future.cancel()
        if self.connected:
            with contextlib.suppress(Exception):
                await self.broker.stop()
        await self._listen_engine.dispose()
        # No longer the leader: its count of runs on workers would only go stale.
        metrics.pool_running({})

    # --- a run -----------------------------------------------------------------------

    async def run(self, message: RunMessage | None, execution_id: int) -> TaskExecution:
        """Publish (unless `message` is None: a run already handed out, which a new
        leader only waits for) and wait for the run's final row."""
        future = self._waiting.get(execution_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[execution_id] = future
        if message is not None:
            await self.publish(message)
        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                self._waiting.pop(execution_id, None)

    async def publish(self, message: RunMessage) -> bool:
        if not self.connected:
            return False
        try:
            await self.broker.publish(message)
        except BrokerUnavailable as exc:
            logger.warning(
                "run %s not published (%s); it is published again in %g s",
                message.execution_id,
                exc,
                self.settings.BROKER_REPUBLISH_SECONDS,
            )
            return False
        return True

    # --- background ------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        while not self.connected:
            try:
                await self.broker.start()
                self.connected = True
                logger.info("connected to the broker")
            except BrokerUnavailable as exc:
                logger.error("broker unreachable (%s); retrying in %g s", exc, BROKER_RETRY_SECONDS)
                await asyncio.sleep(BROKER_RETRY_SECONDS)

    async def _listen_loop(self) -> None:
        """Wake `_tend` when a worker reports an outcome."""
        while True:
            try:
                async with self._listen_engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    await raw.driver_connection.add_listener(  # type: ignore[union-attr]
                        execution_crud.NOTIFY_DONE_CHANNEL, self._on_notify
                    )
                    while True:
                        await asyncio.sleep(5)
                        await conn.exec_driver_sql("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("listening for run outcomes failed (%s); polling meanwhile", exc)
                await asyncio.sleep(BROKER_RETRY_SECONDS)

    def _on_notify(self, *args: Any) -> None:
        payload = str(args[-1]) if args else ""
        for part in payload.split(","):
            if part.isdigit():
                self._notified.add(int(part))
        self._wake.set()

    async def _tend_loop(self) -> None:
        """Outcomes a notification announced are read at once; everything else (the
        poll of every run waited for, reaping, re-publishing) every `tend_seconds`."""
        loop = asyncio.get_running_loop()
        next_tend = 0.0
        while True:
            try:
                if loop.time() >= next_tend:
                    next_tend = loop.time() + self.tend_seconds
                    self._notified.clear()
                    await self._tend()
                elif self._notified:
                    notified, self._notified = self._notified, set()
                    await self._collect([i for i in notified if i in self._waiting])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("tending the worker pool failed: %s", exc)
            self._wake.clear()
            if self._notified:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_tend - loop.time()))

    async def _collect(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.database.transaction() as db:
            finished = await execution_crud.finished_among(db, ids)
        self._resolve(finished)

    def _resolve(self, finished: Sequence[TaskExecution]) -> None:
        for row in finished:
            future = self._waiting.get(row.id)
            if future is not None and not future.done():
                future.set_result(row)

    async def _tend(self) -> None:
        lease = self.settings.WORKER_LEASE_SECONDS
        async with self.database.transaction() as db:
            interrupted = await execution_crud.reap_dead_workers(db, lease)
            timed_out = await execution_crud.reap_timeouts(db, lease)
            missed = await execution_crud.reap_missed(db)
            republish = (
                await execution_crud.take_republish(db, self.settings.BROKER_REPUBLISH_SECONDS)
                if self.connected
                else []
            )
            finished = await execution_crud.finished_among(db, list(self._waiting))
            depth = await execution_crud.queue_depth(db)
            running = await execution_crud.running_on_workers(db)
            workers = await worker_crud.list_with_liveness(db, lease)
            await worker_crud.forget_gone(db, FORGET_WORKERS_SECONDS)
        for reason, ids in (
            ("interrupted", interrupted),
            ("timeout", timed_out),
            ("missed", missed),
        ):
            if ids:
                logger.warning("reaped %d run(s) as %s: %s", len(ids), reason, ids)
            metrics.pool_reaped(reason, len(ids))
        metrics.pool_state(depth, sum(alive for _, alive in workers))
        metrics.pool_running(running)
        self._resolve(finished)
        for execution_id, body in republish:
            message = _message(execution_id, body)
            if message is not None:
                logger.info("run %s queued too long; published again", message.execution_id)
                await self.publish(message)


def _message(execution_id: int, body: dict[str, Any]) -> RunMessage | None:
    try:
        return RunMessage.from_row(execution_id, body)
    except ValueError:
        logger.exception("a stored run message cannot be read")
        return None
