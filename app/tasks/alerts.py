"""Webhook alerts, sent by the scheduler leader when a run fails, times out or is
missed, and when a job reaches ALERT_CONSECUTIVE_FAILURES failures in a row.

Delivery never holds up or changes a run: `notify` only starts a task on the leader's
loop and returns. Each delivery is bounded (a timeout per attempt, a fixed number of
attempts with exponential backoff), and a failed one is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from app.core.config import Settings
from app.core.retry import retrying
from app.db.session import Database
from app.models.task_execution import ExecutionStatus
from app.tasks.manager import TaskManager
from app.tasks.outcome import RunOutcome

logger = logging.getLogger(__name__)

ALERTED_STATUSES = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.MISSED}
)
FAILURE_STATUSES = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT})
# Outcomes that say nothing about whether the job's code works: they neither extend
# nor break a run of failures.
NEUTRAL_STATUSES = frozenset(
    {
        ExecutionStatus.RUNNING,
        ExecutionStatus.SKIPPED,
        ExecutionStatus.MISSED,
        ExecutionStatus.INTERRUPTED,
    }
)
SOURCE = "reddit-bot-backend"
# Missed runs of one job within this many seconds make one alert: a scheduler that was
# down or behind records every fire time it skipped, and each would be an alert.
MISSED_BATCH_SECONDS = 1.0


def alert_payload(event: str, outcome: RunOutcome, runner: str, **extra: Any) -> dict[str, Any]:
    """The JSON an alert posts. `text` is a one-line summary, the field chat webhooks
    (Slack, Mattermost) display."""
    summary = {
        "failed": f"failed: {outcome.error_message}",
        "timeout": f"timed out: {outcome.error_message}",
        "missed": (
            f"missed {extra['missed_runs']} runs"
            if extra.get("missed_runs", 1) > 1
            else "missed its run"
        ),
        "consecutive_failures": f"failed {extra.get('consecutive_failures')} times in a row",
    }.get(event, event)
    return {
        "source": SOURCE,
        "event": event,
        "text": f"Job {outcome.job_id} ({outcome.job_name}) {summary}",
        "job_id": outcome.job_id,
        "job_name": outcome.job_name,
        "task": outcome.task,
        "status": outcome.status.value,
        "trigger": outcome.trigger.value,
        "execution_id": outcome.execution_id,
        "scheduled_at": outcome.scheduled_at.isoformat() if outcome.scheduled_at else None,
        "started_at": outcome.started_at.isoformat() if outcome.started_at else None,
        "finished_at": outcome.finished_at.isoformat(),
        "error_message": outcome.error_message,
        "runner": runner,
        "sent_at": datetime.now(UTC).isoformat(),
        **extra,
    }


class DeliveryFailed(Exception):
    """The webhook answered, but not with a success."""


def _where(url: str) -> str:
    # Webhook URLs often carry a secret in their path or query: log the host only.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}"


class AlertDispatcher:
    def __init__(self, settings: Settings, database: Database, runner: str) -> None:
        self.urls = list(settings.ALERT_WEBHOOK_URLS)
        self.threshold = settings.ALERT_CONSECUTIVE_FAILURES
        self.timeout = settings.ALERT_TIMEOUT_SECONDS
        self.attempts = 1 + settings.ALERT_MAX_RETRIES
        self.backoff = settings.ALERT_BACKOFF_SECONDS
        self.database = database
        self.runner = runner
        # Strong references: the loop keeps only weak ones, and a task nobody holds can
        # be collected before it finishes.
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._missed: dict[str, list[RunOutcome]] = {}

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def notify(self, outcome: RunOutcome) -> None:
        """Start sending whatever alerts `outcome` calls for, and return at once. Call it
        on the leader's event loop."""
        if not self.urls or outcome.status not in ALERTED_STATUSES:
            return
        if outcome.status is ExecutionStatus.MISSED:
            batch = self._missed.get(outcome.job_id)
            if batch is not None:
                batch.append(outcome)
                return
            self._missed[outcome.job_id] = [outcome]
            self._start(self._missed_alert(outcome.job_id))
            return
        self._start(self._alert(outcome))

    def job_paused(self, job_id: str, job_name: str, streak: int, reason: str) -> None:
        """Alert that the scheduler paused a job after `streak` failed runs in a row."""
        if not self.urls:
            return
        payload = {
            "source": SOURCE,
            "event": "paused",
            "text": f"Job {job_id} ({job_name}) paused after {streak} failed runs in a row",
            "job_id": job_id,
            "job_name": job_name,
            "consecutive_failures": streak,
            "reason": reason,
            "runner": self.runner,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        self._start(self._send(payload))

    async def _send(self, payload: dict[str, Any]) -> None:
        try:
            await asyncio.gather(*(self._deliver(url, payload) for url in self.urls))
        except Exception:
            logger.exception(
                "alert %s for job %s could not be sent", payload["event"], payload["job_id"]
            )

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _missed_alert(self, job_id: str) -> None:
        try:
            await asyncio.sleep(MISSED_BATCH_SECONDS)
        finally:
            batch = self._missed.pop(job_id, [])
        if not batch:
            return
        times = sorted(o.scheduled_at for o in batch if o.scheduled_at is not None)
        payload = alert_payload(
            "missed",
            batch[-1],
            self.runner,
            missed_runs=len(batch),
            first_scheduled_at=times[0].isoformat() if times else None,
        )
        try:
            await asyncio.gather(*(self._deliver(url, payload) for url in self.urls))
        except Exception:
            logger.exception("missed-run alert for job %s could not be sent", job_id)

    async def _alert(self, outcome: RunOutcome) -> None:
        try:
            payloads = [alert_payload(outcome.status.value, outcome, self.runner)]
            if outcome.status in FAILURE_STATUSES and self.threshold > 0:
                streak = await self._failure_streak(outcome)
                # Once, when the streak reaches the threshold, not on every failure after.
                if streak == self.threshold:
                    payloads.append(
                        alert_payload(
                            "consecutive_failures",
                            outcome,
                            self.runner,
                            consecutive_failures=streak,
                        )
                    )
            await asyncio.gather(
                *(self._deliver(url, payload) for payload in payloads for url in self.urls)
            )
        except Exception:
            logger.exception("alerts for job %s could not be sent", outcome.job_id)

    async def _failure_streak(self, outcome: RunOutcome) -> int:
        """Failures in a row up to and including this run, counted from the history, so
        the count survives a change of leader."""
        async with self.database.transaction() as db:
            rows = await TaskManager(db).get_job_executions(
                outcome.job_id, limit=2 * self.threshold + 20
            )
        streak = 0
        for row in rows:
            if outcome.execution_id is not None and row.id > outcome.execution_id:
                continue  # a later run: the streak is counted as of this one
            if row.status in NEUTRAL_STATUSES:
                continue
            if row.status not in FAILURE_STATUSES:
                break
            streak += 1
        return streak

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers={"User-Agent": f"{SOURCE} alerts"}, follow_redirects=False
            )
        return self._client

    async def _deliver(self, url: str, payload: dict[str, Any]) -> bool:
        where = _where(url)

        async def post() -> None:
            async with asyncio.timeout(self.timeout):
                response = await self._http().post(url, json=payload)
            if not response.is_success:
                raise DeliveryFailed(f"HTTP {response.status_code}")

        def retrying_in(attempt: int, problem: str, delay: float) -> None:
            logger.warning(
                "alert %s for job %s to %s failed (attempt %d of %d: %s); retrying in %gs",
                payload["event"],
                payload["job_id"],
                where,
                attempt,
                self.attempts,
                problem,
                delay,
            )

        try:
            await retrying(
                post,
                attempts=self.attempts,
                backoff_seconds=self.backoff,
                retry_on=(DeliveryFailed, TimeoutError, httpx.HTTPError, OSError),
                on_retry=retrying_in,
                describe=self._problem,
            )
        except (DeliveryFailed, TimeoutError, httpx.HTTPError, OSError) as exc:
            logger.error(
                "alert %s for job %s to %s not delivered after %d attempt(s): %s",
                payload["event"],
                payload["job_id"],
                where,
                self.attempts,
                self._problem(exc),
            )
            return False
        return True

    def _problem(self, exc: BaseException) -> str:
        if isinstance(exc, DeliveryFailed):
            return str(exc)
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        return f"{type(exc).__name__}: {exc}"

    async def aclose(self, timeout: float = 5.0) -> None:
        """Give alerts in flight `timeout` seconds, then cancel the rest."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning("%d alert(s) cancelled at shutdown", len(pending))
                await asyncio.wait(pending, timeout=1)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
