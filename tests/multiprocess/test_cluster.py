"""Several processes, one schedule: real server processes on one database."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from app.models.task_execution import ExecutionStatus, TaskExecution
from tests.multiprocess.conftest import Cluster, PrivatePostgres
from tests.tasks.sample_tasks import lines

pytestmark = pytest.mark.multiprocess


def all_executions(cluster: Cluster) -> list[TaskExecution]:
    engine = create_engine(cluster.settings.sync_database_url)
    from sqlalchemy.orm import Session

    with Session(engine) as db:
        rows = list(db.scalars(select(TaskExecution).order_by(TaskExecution.id)))
    engine.dispose()
    return rows


def create_interval_jobs(
    cluster: Cluster, node_index: int, count: int, out: Path, start: datetime
) -> None:
    """Jobs firing every second. Not coalesced: a slot the engine runs late still runs."""
    node = cluster.nodes[node_index]
    for i in range(count):
        response = node.request(
            "POST",
            "/api/v1/tasks",
            json={
                "id": f"tick_{i:02d}",
                "task": "test_record",
                "params": {"path": str(out)},
                "trigger": {"type": "interval", "seconds": 1, "start_date": start.isoformat()},
                "coalesce": False,
            },
        )
        assert response.status_code == 201, response.text


def slot_report(
    rows: list[TaskExecution], job_ids: list[str], window: tuple[datetime, datetime]
) -> tuple[int, int, int]:
    """(recorded slots, duplicated slots, missing slots) within the window."""
    by_job: dict[str, Counter[datetime]] = defaultdict(Counter)
    for row in rows:
        if row.scheduled_at is not None and row.job_id in job_ids:
            by_job[row.job_id][row.scheduled_at] += 1
    recorded = duplicated = missing = 0
    first, last = window
    expected = [first + timedelta(seconds=s) for s in range(int((last - first).total_seconds()))]
    for job_id in job_ids:
        slots = by_job[job_id]
        recorded += sum(slots.values())
        duplicated += sum(c - 1 for c in slots.values() if c > 1)
        missing += sum(1 for t in expected if t not in slots)
    return recorded, duplicated, missing


def test_three_processes_run_every_slot_exactly_once(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start(3)
    cluster.leader()
    out = tmp_path / "ticks.txt"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    # Create through a node that is not (necessarily) the leader.
    create_interval_jobs(cluster, 2, 20, out, start)
    # On a busy machine creating the jobs can take past `start`: count from then on.
    first = max(start, datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    time.sleep((first - datetime.now(UTC)).total_seconds() + 30)
    cluster.stop_all()
    window = (first, first + timedelta(seconds=28))
    rows = all_executions(cluster)
    job_ids = [f"tick_{i:02d}" for i in range(20)]
    recorded, duplicated, missing = slot_report(rows, job_ids, window)
    assert duplicated == 0
    assert missing == 0, f"{missing} slots missing of {20 * 28}"
    assert recorded >= 20 * 28
    # A body runs only after its slot's row is claimed, and once per claimed slot. A run
    # the final shutdown cut off may have run its body without reaching `success`.
    successes = [r for r in rows if r.status == ExecutionStatus.SUCCESS]
    claimed = [r for r in rows if r.status not in (ExecutionStatus.MISSED, ExecutionStatus.SKIPPED)]
    assert len(successes) <= len(lines(str(out))) <= len(claimed)
    assert len(claimed) - len(successes) <= 20  # at most the runs in flight at the stop
    assert {r.status for r in claimed} <= {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.INTERRUPTED,
        ExecutionStatus.RUNNING,
    }
    # Exactly one process ran them all.
    assert len({r.runner for r in successes}) == 1


def test_killing_the_leader_fails_over_within_the_bound(cluster: Cluster, tmp_path: Path) -> None:
    nodes = cluster.start(3)
    leader = cluster.leader()
    other = next(n for n in nodes if n is not leader)
    out = tmp_path / "ticks.txt"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    create_interval_jobs(cluster, nodes.index(other), 5, out, start)
    response = other.request(
        "POST",
        "/api/v1/tasks",
        json={
            "id": "long_run",
            "task": "test_sleep",
            "params": {"seconds": 120},
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert response.status_code == 201, response.text
    assert other.request("POST", "/api/v1/tasks/long_run/run").status_code == 202
    time.sleep((start - datetime.now(UTC)).total_seconds() + 4)

    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(10)
    killed_at = time.monotonic()
    new_leader = cluster.leader(timeout=30)
    took_over = time.monotonic() - killed_at
    assert new_leader.pid != leader.pid
    bound = cluster.settings.SCHEDULER_FAILOVER_SECONDS
    assert took_over <= bound + 2, f"failover took {took_over:.1f}s (bound {bound}s)"

    time.sleep(5)
    rows = all_executions(cluster)
    [long_run] = [r for r in rows if r.job_id == "long_run"]
    assert long_run.status == ExecutionStatus.INTERRUPTED
    after = [
        r
        for r in rows
        if r.job_id.startswith("tick_") and r.runner and f":{new_leader.pid}:" in r.runner
    ]
    assert len(after) >= 5 * 3, "the schedule did not go on under the new leader"
    by_slot = Counter((r.job_id, r.scheduled_at) for r in rows if r.job_id.startswith("tick_"))
    assert max(by_slot.values()) == 1


def test_commands_sent_to_a_standby_take_effect_on_the_leader(
    cluster: Cluster, tmp_path: Path
) -> None:
    nodes = cluster.start(2)
    leader = cluster.leader()
    standby = next(n for n in nodes if n is not leader)
    out = tmp_path / "standby.txt"
    created = standby.request(
        "POST",
        "/api/v1/tasks",
        json={
            "id": "via_standby",
            "task": "test_record",
            "params": {"path": str(out)},
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert created.status_code == 201, created.text
    assert standby.request("POST", "/api/v1/tasks/via_standby/pause").status_code == 200
    assert leader.request("GET", "/api/v1/tasks/via_standby").json()["paused"] is True
    assert standby.request("POST", "/api/v1/tasks/via_standby/resume").status_code == 200
    assert leader.request("GET", "/api/v1/tasks/via_standby").json()["paused"] is False
    assert standby.request("POST", "/api/v1/tasks/via_standby/run").status_code == 202
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not lines(str(out)):
        time.sleep(0.1)
    [run] = lines(str(out))
    assert run[1] == str(leader.pid)
    stats = standby.request("GET", "/api/v1/tasks/system/stats").json()
    assert stats["leader"]["alive"] is True
    assert stats["leader"]["this_process"] is False
    assert stats["leader"]["holder"].split(":")[1] == str(leader.pid)


@pytest.mark.skipif(
    os.environ.get("TEST_BACKEND") != "postgresql", reason="a PostgreSQL server restart"
)
def test_processes_recover_from_a_postgresql_restart(
    private_cluster: Cluster, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    cluster = private_cluster
    cluster.start(2)
    cluster.leader()
    out = tmp_path / "ticks.txt"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    create_interval_jobs(cluster, 0, 3, out, start)
    time.sleep((start - datetime.now(UTC)).total_seconds() + 4)
    before = all_executions(cluster)
    assert before

    private_postgres.restart()
    leader = cluster.leader(timeout=60)
    assert all(n.alive() for n in cluster.nodes), "a process died with the database"
    restarted_at = datetime.now(UTC)
    time.sleep(6)
    after = all_executions(cluster)
    before_ids = {r.id for r in before}
    assert before_ids <= {r.id for r in after}, "rows recorded before the restart were lost"
    fresh = [r for r in after if r.started_at > restarted_at and r.job_id.startswith("tick_")]
    assert len(fresh) >= 3 * 3, "the schedule did not resume after the restart"
    assert leader.request("GET", "/api/v1/tasks/tick_00").status_code == 200
    by_slot = Counter((r.job_id, r.scheduled_at) for r in after if r.job_id.startswith("tick_"))
    assert max(by_slot.values()) == 1
