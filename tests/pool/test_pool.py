"""The worker pool (EXECUTOR=broker) with real processes: a private RabbitMQ node, the
test PostgreSQL database, a scheduler leader and worker processes."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.models.task_execution import ExecutionStatus
from tests.conftest import wait_until
from tests.multiprocess.conftest import Node
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.tasks.sample_tasks import lines

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]

FINAL = {s for s in ExecutionStatus if s not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)}


def create_job(node: Node, job_id: str, params: dict[str, Any], **extra: Any) -> None:
    body = {
        "id": job_id,
        "task": "test_record",
        "params": params,
        "trigger": {"type": "interval", "seconds": 1},
        **extra,
    }
    response = node.request("POST", "/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text


def history(node: Node, job_id: str) -> list[dict[str, Any]]:
    response = node.request("GET", f"/api/v1/tasks/{job_id}/executions", params={"limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    return body


def test_runs_spread_over_workers_once_per_slot(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    workers = [pool.start_worker("w1"), pool.start_worker("w2")]
    out = tmp_path / "runs.txt"
    for i in range(4):
        create_job(leader, f"spread_{i}", {"path": str(out), "sleep": 0.3})

    def spread() -> bool:
        done = [r for r in pool.rows() if r.status == ExecutionStatus.SUCCESS]
        return len(done) >= 16 and len({r.runner for r in done}) >= 2

    wait_until(spread, timeout=60)
    pool.stop_all()
    rows = pool.rows()
    dispatched = [r for r in rows if r.claim_token is not None]
    assert {r.runner for r in dispatched if r.runner} == {w.worker_id for w in workers}
    slots = Counter((r.job_id, r.scheduled_at) for r in rows)
    assert max(slots.values()) == 1
    # Each body ran once per claimed run: one line in the file per claimed row.
    claimed = Counter(r.job_id for r in dispatched if r.runner is not None)
    ran = Counter(line[0] for line in lines(str(out)))
    assert ran == claimed
    # Stopped, the workers left nothing running (a row queued as the leader stopped
    # stays queued for the next leader).
    assert ExecutionStatus.RUNNING not in {r.status for r in rows}


def test_history_shows_the_worker_of_each_run(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("w-history")
    create_job(leader, "shown", {"path": str(tmp_path / "out.txt")})
    wait_until(
        lambda: any(r["status"] == "success" for r in history(leader, "shown")), timeout=30
    )
    runs = [r for r in history(leader, "shown") if r["status"] == "success"]
    assert {r["runner"] for r in runs} == {worker.worker_id}
