"""`retention_1m`: the `cleanup_executions` job deleting the half of the history older
than 30 days, run on demand: its duration and how far the peak RSS of the process that
runs it rose above its RSS before the run.

`ours` runs it through its scheduler (`POST /tasks/cleanup_executions/run` is a command
the leader applies), so the memory is the scheduler process's in the split layout and
the one `serve` process's otherwise; `design` runs it in its serving process."""

from __future__ import annotations

import time
from typing import Any

from bench.contenders import Contender
from bench.procs import Proc
from bench.sizes import Sizes


def params(sizes: Sizes) -> dict[str, Any]:
    total = sizes.history_jobs * sizes.history_runs_per_job
    return {
        "executions": total,
        "expired": total // 2,
        "retention_days": 30,
        "peak_mem_process": "the process running the scheduler (ours split: the scheduler's)",
    }


def run_ours(proc: Proc, sizes: Sizes) -> tuple[float, int]:
    """Run `cleanup_executions` now; (its duration in seconds, executions deleted)."""
    response = proc.post("/api/v1/tasks/cleanup_executions/run")
    if response.status_code != 202:
        raise RuntimeError(f"run-now failed: {response.status_code} {response.text}")
    execution_id = response.json()["execution_id"]
    deadline = time.monotonic() + sizes.wait_budget_s
    while time.monotonic() < deadline:
        row = proc.get(f"/api/v1/tasks/executions/{execution_id}").json()
        if row["status"] != "running":
            if row["status"] != "success":
                raise RuntimeError(f"cleanup ended {row['status']}: {row.get('error_message')}")
            return float(row["duration_seconds"]), int(row["result"]["deleted_executions"])
        time.sleep(0.05)
    raise RuntimeError("cleanup did not finish")


def _design(proc: Proc) -> tuple[float, int]:
    response = proc.post("/bench/retention")
    response.raise_for_status()
    body = response.json()
    return float(body["seconds"]), int(body["deleted_executions"])


def run(contender: Contender, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    time.sleep(sizes.settle_s)
    runner = proc.leader
    before = runner.rss_mb()
    runner.reset_peak()
    if contender.name == "ours":
        seconds, deleted = run_ours(proc, sizes)
    else:
        seconds, deleted = _design(proc)
    return {
        "seconds": round(seconds, 3),
        "peak_mem_mb": round(max(0.0, runner.peak_mb() - before), 1),
        "deleted": deleted,
    }
