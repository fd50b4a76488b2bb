"""Overlap policies with the worker pool: a buffered slot waits in its row and a worker
runs it once the running one has ended; `cancel_other` cancels the run on a worker and a
worker runs the new slot."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.models.task_execution import ExecutionStatus, ExecutionTrigger
from app.tasks.scheduler import ATTEMPT_POLL_SECONDS
from tests.conftest import wait_until
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.pool.test_pool import create_job, run_now
from tests.tasks.sample_tasks import lines

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]


def one_slot_soon(seconds: float) -> dict[str, Any]:
    """A trigger with one slot in a moment (the next an hour later)."""
    start = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"type": "interval", "hours": 1, "start_date": start.isoformat()}


def scheduled(pool: PoolCluster, job_id: str, *statuses: ExecutionStatus) -> list[Any]:
    return [
        r
        for r in pool.rows(job_id=job_id)
        if r.trigger is ExecutionTrigger.SCHEDULED and r.status in statuses
    ]


def test_buffer_one_waits_in_its_row_then_runs_on_a_worker(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("o1")
    out = tmp_path / "buffered.txt"
    create_job(
        leader,
        "buffered",
        {"path": str(out), "sleep": 4},
        trigger=one_slot_soon(3),
        overlap="buffer_one",
    )
    run_now(leader, "buffered")
    wait_until(
        lambda: [r for r in pool.rows(job_id="buffered") if r.status is ExecutionStatus.RUNNING],
        timeout=30,
    )
    [waiting] = wait_until(lambda: scheduled(pool, "buffered", ExecutionStatus.WAITING), timeout=30)
    assert waiting.not_before is None
    assert waiting.runner is None

    [done] = wait_until(lambda: scheduled(pool, "buffered", ExecutionStatus.SUCCESS), timeout=60)
    assert done.id == waiting.id
    assert done.scheduled_at == waiting.scheduled_at
    assert done.runner == worker.worker_id
    [manual] = [r for r in pool.rows(job_id="buffered") if r.trigger is ExecutionTrigger.MANUAL]
    assert manual.status is ExecutionStatus.SUCCESS
    assert manual.completed_at is not None
    assert done.started_at >= manual.completed_at
    assert len(lines(str(out))) == 2


def test_a_buffered_slot_of_a_paused_job_waits_for_its_resume_then_runs_on_a_worker(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("o3")
    out = tmp_path / "held.txt"
    create_job(
        leader,
        "held",
        # The manual run must have started before the slot, and the pause must land
        # before it ends: room for a busy machine.
        {"path": str(out), "sleep": 8},
        trigger=one_slot_soon(5),
        overlap="buffer_one",
    )
    run_now(leader, "held")
    [waiting] = wait_until(lambda: scheduled(pool, "held", ExecutionStatus.WAITING), timeout=30)
    paused = leader.request("POST", "/api/v1/tasks/held/pause")
    assert paused.status_code == 200, paused.text
    wait_until(
        lambda: [r for r in pool.rows(job_id="held") if r.status is ExecutionStatus.SUCCESS],
        timeout=60,
    )
    # The run it waited behind has ended; paused, the job starts nothing.
    time.sleep(3 * ATTEMPT_POLL_SECONDS)
    assert [r.status for r in pool.rows(job_id="held") if r.id == waiting.id] == [
        ExecutionStatus.WAITING
    ]
    assert len(lines(str(out))) == 1
    resumed_at = datetime.now(UTC)
    resumed = leader.request("POST", "/api/v1/tasks/held/resume")
    assert resumed.status_code == 200, resumed.text
    [done] = wait_until(lambda: scheduled(pool, "held", ExecutionStatus.SUCCESS), timeout=60)
    assert done.id == waiting.id
    assert done.runner == worker.worker_id
    assert done.started_at is not None
    assert done.started_at >= resumed_at
    assert len(lines(str(out))) == 2


def test_cancel_other_cancels_the_run_on_a_worker_and_runs_the_new_slot(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("o2")
    create_job(
        leader,
        "newest",
        {"path": str(tmp_path / "newest.txt"), "sleep": 120},
        trigger=one_slot_soon(4),
        overlap="cancel_other",
    )
    run_now(leader, "newest")
    [manual] = wait_until(
        lambda: [r for r in pool.rows(job_id="newest") if r.status is ExecutionStatus.RUNNING],
        timeout=30,
    )
    assert manual.trigger is ExecutionTrigger.MANUAL

    [new] = wait_until(lambda: scheduled(pool, "newest", ExecutionStatus.RUNNING), timeout=60)
    assert new.runner == worker.worker_id
    [old] = [r for r in pool.rows(job_id="newest") if r.id == manual.id]
    assert old.status is ExecutionStatus.CANCELLED
    assert "cancelled by overlap policy cancel_other" in (old.error_message or "").lower()
    # The worker stopped the cancelled body; what it would have written is refused.
    wait_until(lambda: "outcome interrupted not written" in worker.log.read_text(), timeout=30)
    stop = leader.request("POST", f"/api/v1/tasks/executions/{new.id}/cancel")
    assert stop.status_code == 200, stop.text
