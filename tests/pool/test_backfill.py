"""Backfill with the worker pool: each past slot is queued in order, run by a worker
and recorded `backfill` at its own `scheduled_at`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from tests.conftest import wait_until
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.pool.test_pool import create_job
from tests.tasks.sample_tasks import lines

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]


def test_past_slots_run_on_workers_in_order(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("b1")
    out = tmp_path / "nightly.txt"
    # A grace time far shorter than the slots' age: backfilled runs are not missed.
    create_job(
        leader,
        "nightly",
        {"path": str(out)},
        trigger={"type": "cron", "hour": 3, "minute": 0},
        misfire_grace_time=60,
    )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    response = leader.request(
        "POST",
        "/api/v1/tasks/nightly/backfill",
        json={
            "start": (today - timedelta(days=4)).isoformat(),
            "end": (today - timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["runs"] == 3

    def done() -> list[TaskExecution] | None:
        rows = pool.rows(job_id="nightly")
        finished = [
            r for r in rows if r.status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
        ]
        return rows if len(finished) == 3 else None

    rows = wait_until(done, timeout=60)
    assert [r.status for r in rows] == [ExecutionStatus.SUCCESS] * 3
    assert [r.trigger for r in rows] == [ExecutionTrigger.BACKFILL] * 3
    assert [r.runner for r in rows] == [worker.worker_id] * 3
    slots = [today - timedelta(days=d) + timedelta(hours=3) for d in (4, 3, 2)]
    assert [r.scheduled_at for r in rows] == slots
    for earlier, later in itertools.pairwise(rows):
        assert later.started_at >= earlier.completed_at
    assert len(lines(str(out))) == 3
