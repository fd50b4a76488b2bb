"""Cancelling runs with the worker pool: a running run's worker stops it and its late
outcome is fenced off; a queued run is dropped and no worker runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.models.task_execution import ExecutionStatus
from tests.conftest import wait_until
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.pool.test_pool import hourly_job, one_row, run_now, run_now_once_free
from tests.tasks.sample_tasks import lines

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]


def test_a_run_on_a_worker_is_cancelled_and_its_late_outcome_fenced_off(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("c1")
    hourly_job(leader, "long", {"path": str(tmp_path / "long.txt"), "sleep": 120})
    run_now(leader, "long")
    running = wait_until(lambda: one_row(pool, "long", ExecutionStatus.RUNNING), timeout=30)
    assert running.runner == worker.worker_id

    response = leader.request(
        "POST", f"/api/v1/tasks/executions/{running.id}/cancel", json={"reason": "not needed"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert "not needed" in response.json()["error_message"]

    # The worker notices the row is no longer its own, stops the body, and what it
    # would have written is refused: the row stays `cancelled`.
    wait_until(lambda: "outcome interrupted not written" in worker.log.read_text(), timeout=30)
    [row] = pool.rows(job_id="long")
    assert row.status == ExecutionStatus.CANCELLED
    assert "not needed" in (row.error_message or "")
    # The leader counts the run as ended (at its next pool check: the worker wrote no
    # outcome to notify it with): the job runs again, on the same worker.
    run_now_once_free(leader, "long", timeout=30)
    again = wait_until(
        lambda: [r for r in pool.rows(job_id="long") if r.status == ExecutionStatus.RUNNING],
        timeout=30,
    )
    assert again[0].id != running.id
    again_cancel = leader.request("POST", f"/api/v1/tasks/executions/{again[0].id}/cancel")
    assert again_cancel.status_code == 200, again_cancel.text
    finished = leader.request("POST", f"/api/v1/tasks/executions/{running.id}/cancel")
    assert finished.status_code == 409, finished.text


def test_a_queued_run_is_dropped_and_no_worker_runs_it(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    dropped, after = tmp_path / "dropped.txt", tmp_path / "after.txt"
    hourly_job(leader, "dropped", {"path": str(dropped)})
    hourly_job(leader, "after", {"path": str(after)})
    # No worker yet: the run stays queued.
    run_now(leader, "dropped")
    queued = wait_until(lambda: one_row(pool, "dropped", ExecutionStatus.QUEUED), timeout=30)

    response = leader.request("POST", f"/api/v1/tasks/executions/{queued.id}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    # The dropped run's message is ahead in the queue; the worker claims nothing with it
    # and runs the next one.
    pool.start_worker("c2")
    run_now(leader, "after")
    wait_until(lambda: one_row(pool, "after", ExecutionStatus.SUCCESS), timeout=30)
    [row] = pool.rows(job_id="dropped")
    assert row.status == ExecutionStatus.CANCELLED
    assert row.runner is None
    assert lines(str(dropped)) == []
