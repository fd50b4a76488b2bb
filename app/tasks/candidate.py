"""`SchedulerCandidate`: a process that may lead the scheduler. It waits to become
leader, then runs the `EnhancedScheduler`, applies API commands, and keeps a heartbeat,
until it is stopped or loses its lock. `reddit-bot scheduler` runs it as the process's
main loop; `serve` runs it on a thread of its own beside the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.config import Settings
from app.core.errors import AppError
from app.crud import audit as audit_crud
from app.crud import scheduler as scheduler_crud
from app.db.session import Database
from app.models.scheduler import CommandStatus
from app.tasks import commands
from app.tasks.client import SCHEDULER_NAME
from app.tasks.election import Elector, elector_for
from app.tasks.scheduler import EnhancedScheduler, new_runner_id

logger = logging.getLogger(__name__)


class SchedulerCandidate:
    def __init__(self, settings: Settings, name: str = SCHEDULER_NAME) -> None:
        self.settings = settings
        self.name = name
        self.runner_id = new_runner_id()
        self.scheduler: EnhancedScheduler | None = None
        self.leader_since: datetime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    @property
    def retry_seconds(self) -> float:
        return min(1.0, self.settings.SCHEDULER_FAILOVER_SECONDS / 5)

    @property
    def heartbeat_seconds(self) -> float:
        return min(2.0, self.settings.SCHEDULER_FAILOVER_SECONDS / 4)

    # --- control from other threads -------------------------------------------------

    def wake(self) -> None:
        """Look for commands now (callable from any thread)."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)

    def start_in_thread(self) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.run()), name="scheduler", daemon=True
        )
        self._thread.start()
        self._ready.wait(timeout=10)

    def join(self, timeout: float | None = None) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the candidate loop ----------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready.set()
        database = Database(self.settings.DATABASE_URL)
        elector = elector_for(self.settings, self.name, on_notify=lambda *_: self._wake_local())
        try:
            while not self._stop.is_set():
                if await elector.try_acquire():
                    try:
                        await self._lead(database, elector)
                    except Exception:
                        logger.exception("scheduler leader failed; stepping down")
                    finally:
                        await self._step_down(database, elector)
                    continue
                await self._sleep(self.retry_seconds)
        finally:
            await elector.release()
            await database.dispose()

    def _wake_local(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _lead(self, database: Database, elector: Elector) -> None:
        assert self._stop is not None
        assert self._wake is not None
        logger.info("%s became the scheduler leader", self.runner_id)
        scheduler = EnhancedScheduler(self.settings, database, self.runner_id)
        # Set before starting, so a start that fails half-way is still shut down.
        self.scheduler = scheduler
        await scheduler.start(reconcile=True)
        self.leader_since = scheduler.started_at
        metrics.set_leader(True)
        await self._write_leader(database, claim=True)
        next_heartbeat = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            await self._apply_commands(database, scheduler)
            if loop.time() >= next_heartbeat:
                if not await elector.still_leader():
                    logger.error("%s lost leadership", self.runner_id)
                    return
                await self._write_leader(database, claim=False)
                next_heartbeat = loop.time() + self.heartbeat_seconds
            self._wake.clear()
            waiters = {
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self._stop.wait()),
            }
            _, pending = await asyncio.wait(
                waiters,
                timeout=min(self.settings.SCHEDULER_POLL_SECONDS, self.heartbeat_seconds),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for waiter in pending:
                waiter.cancel()

    async def _step_down(self, database: Database, elector: Elector) -> None:
        scheduler, self.scheduler = self.scheduler, None
        self.leader_since = None
        metrics.set_leader(False)
        if scheduler is not None:
            try:
                await scheduler.shutdown()
            except Exception:
                logger.exception("scheduler shutdown failed")
            try:
                async with database.transaction() as db:
                    await scheduler_crud.release_leadership(db, self.name, self.runner_id)
            except Exception:
                logger.warning("could not clear the leader row", exc_info=True)
        await elector.release()

    async def _write_leader(self, database: Database, *, claim: bool) -> None:
        now = datetime.now(UTC)
        try:
            async with database.transaction() as db:
                if claim or not await scheduler_crud.heartbeat(db, self.name, self.runner_id, now):
                    await scheduler_crud.claim_leadership(db, self.name, self.runner_id, now)
        except Exception:
            logger.warning("heartbeat write failed", exc_info=True)

    async def _apply_commands(self, database: Database, scheduler: EnhancedScheduler) -> None:
        try:
            async with database.transaction() as db:
                ids = await scheduler_crud.pending_command_ids(db)
        except Exception:
            logger.warning("could not read scheduler commands", exc_info=True)
            return
        for command_id in ids:
            await self._apply_one(database, scheduler, command_id)

    async def _apply_one(
        self, database: Database, scheduler: EnhancedScheduler, command_id: int
    ) -> None:
        audit_ids: list[int] = []
        try:
            async with database.transaction() as db:
                claimed = await scheduler_crud.transition(
                    db, command_id, from_status=CommandStatus.PENDING, status=CommandStatus.APPLYING
                )
                command = await scheduler_crud.get_command(db, command_id) if claimed else None
                if command is not None and command.audit is not None:
                    audit_ids = await self._write_audit(db, command.audit)
        except Exception as exc:
            # Nothing was applied; without its audit entry nothing may be.
            logger.exception("could not claim command %s", command_id)
            await self._refuse(database, command_id, exc)
            return
        if command is None:
            return
        values: dict[str, Any]
        try:
            result = await scheduler.apply(command.action, command.job_id, dict(command.payload))
            if len(audit_ids) == 1:
                result = {**result, "audit_id": audit_ids[0]}
            values = {"status": CommandStatus.DONE, "result": result}
        except AppError as exc:
            values = {"status": CommandStatus.FAILED, **commands.failure(exc)}
        except Exception as exc:
            logger.exception("command %s (%s) failed", command_id, command.action)
            values = {
                "status": CommandStatus.FAILED,
                "error_status": 500,
                "error": f"The scheduler could not apply the change: {exc}",
            }
        values["applied_at"] = datetime.now(UTC)
        async with database.transaction() as db:
            await scheduler_crud.transition(
                db, command_id, from_status=CommandStatus.APPLYING, **values
            )
            if audit_ids and values["status"] == CommandStatus.FAILED:
                await audit_crud.delete_by_ids(db, audit_ids)

    @staticmethod
    async def _write_audit(db: AsyncSession, audit: dict[str, Any]) -> list[int]:
        """The command's audit entry, or for a command that changes many jobs (an
        import) its `entries`, one per job; their ids. An entry that leaves out `after`
        gets it from the request once the change is applied."""
        now = datetime.now(UTC)
        if "entries" in audit:
            return await audit_crud.create_many(
                db, [{"after": None, **entry, "created_at": now} for entry in audit["entries"]]
            )
        entry = await audit_crud.create(db, **{"after": None, **audit, "created_at": now})
        return [entry.id]

    async def _refuse(self, database: Database, command_id: int, exc: Exception) -> None:
        try:
            async with database.transaction() as db:
                await scheduler_crud.transition(
                    db,
                    command_id,
                    from_status=CommandStatus.PENDING,
                    status=CommandStatus.FAILED,
                    error_status=500,
                    error=f"The scheduler could not record the change, so it was not applied: "
                    f"{type(exc).__name__}",
                    applied_at=datetime.now(UTC),
                )
        except Exception:
            logger.warning("could not refuse command %s", command_id, exc_info=True)
