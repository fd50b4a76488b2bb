"""`import_10k` and `create_jobs`: making jobs in bulk and one at a time.

- `import_10k`: `import_jobs` interval jobs in one `POST /api/v1/tasks/import`, timed
  from the request to its answer (every job stored, every audit entry written), on an
  empty store. `limit`'s figure is bare APScheduler adding as many jobs to its memory
  store (`/bench/reset`); `design` has no import.
- `create_jobs`: single `POST /api/v1/tasks` at a fixed rate (open loop) during
  `fire_lateness_real`'s window (its jobs firing, each run one write transaction, and
  its API reads), `ours` only; `fired` and `expected` are that window's slots.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import jobstore
from bench.contenders import LIMIT, Contender, _create_body
from bench.jobstore import JobBatch
from bench.procs import ROOT, Proc, child_env
from bench.sizes import Sizes
from bench.stats import percentile

IMPORT_PREFIX = "imp_"
CREATE_PREFIX = "cul_"


def import_params(sizes: Sizes) -> dict[str, Any]:
    return {
        "jobs": sizes.import_jobs,
        "request": "POST /api/v1/tasks/import (mode create), interval jobs",
        "limit": "add_job into a MemoryJobStore",
    }


def create_params(sizes: Sizes) -> dict[str, Any]:
    return {
        "rate_per_second": sizes.create_rate_per_second,
        "request": "POST /api/v1/tasks (a new interval job each)",
        "firing_jobs": sizes.fire_jobs,
        "fires_per_second": round(sizes.fire_jobs / sizes.fire_interval_s, 1),
        "duration_s": sizes.fire_duration_s,
        "during": "fire_lateness_real (its window, beside its API reads)",
    }


def _import(proc: Proc, batch: JobBatch) -> float:
    """Seconds for one import of `batch` (raises unless every job was created)."""
    body = {"jobs": [_create_body(batch, i) for i in range(batch.count)], "mode": "create"}
    started = time.perf_counter()
    response = proc.post("/api/v1/tasks/import", body)
    seconds = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("created") != batch.count:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")
    return seconds


def run_import(contender: Contender, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    # Far in the future: nothing fires while they are stored.
    batch = JobBatch(
        prefix=IMPORT_PREFIX,
        count=sizes.import_jobs,
        first_fire=time.time() + 86400,
        interval_s=86400.0,
    )
    seconds = LIMIT.reset_seconds(proc, batch) if contender is LIMIT else _import(proc, batch)
    return {
        "seconds": round(seconds, 3),
        "per_second": round(batch.count / max(seconds, 1e-6), 1),
        "jobs": batch.count,
    }


def _create_requests(sizes: Sizes) -> list[tuple[str, str, dict[str, Any]]]:
    total = int(sizes.fire_duration_s * sizes.create_rate_per_second)
    start = jobstore.utc(time.time() + 86400).isoformat()
    return [
        (
            "create",
            "/api/v1/tasks",
            {
                "id": f"{CREATE_PREFIX}{k:06d}",
                "task": "bench_noop",
                "trigger": {"type": "interval", "hours": 24, "start_date": start},
            },
        )
        for k in range(total)
    ]


def start_creates(proc: Proc, sizes: Sizes, workdir: Path, start: float) -> Callable[[], Any]:
    """Start `create_jobs`'s requests at `start` (beside `fire_lateness_real`'s
    window, which begins then); returns what waits for them and gives their figures."""
    out = workdir / f"create-{proc.kind}-{proc.port}.json"
    config = workdir / f"create-{proc.kind}-{proc.port}.config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": proc.url,
                "token": proc.token,
                "rate": sizes.create_rate_per_second,
                "start": start,
                "requests": _create_requests(sizes),
                "out": str(out),
            }
        )
    )
    load = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", str(config)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"create-{proc.kind}-{proc.port}.log").open("wb"),
    )

    def finish() -> dict[str, Any]:
        load.wait(timeout=sizes.fire_duration_s + sizes.wait_budget_s)
        samples = json.loads(out.read_text()) if out.exists() else []
        ok = [s["ms"] for s in samples if s["status"] == 201]
        return {
            "p50_ms": round(percentile(ok, 50), 2),
            "p99_ms": round(percentile(ok, 99), 2),
            "max_ms": round(max(ok), 2) if ok else None,
            "requests": len(samples),
            "errors": len(samples) - len(ok),
        }

    return finish
