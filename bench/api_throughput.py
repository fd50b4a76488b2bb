"""`api_throughput`: requests a second and latency of three API reads under a closed-loop
load of `api_concurrency` connections (`bench/loadgen.py`: httpx async in a process of
its own), each for `api_duration_s`:

- `users_me`: `GET /api/v1/users/me`;
- `tasks`: `GET /api/v1/tasks?limit=50` (a full page: `api_jobs` jobs, each with
  `api_runs_per_job` runs of history, whose recent outcomes the page shows);
- `stats`: `GET /api/v1/tasks/{id}/stats` of one of those jobs.

`ours` serves them from one `serve` process (in the split layout the API process, the
scheduler process idle beside it). `limit` is a bare FastAPI + SQLAlchemy app
(`bench.limit`, `/bench/bare/*`) on the same database at the same time, running the same
main query through the app's crud functions without authentication, middleware or
response models. Each endpoint is measured in four rounds, limit, ours, ours, limit, so
drift on a shared machine weighs on both alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.contenders import _create_body
from bench.jobstore import JobBatch
from bench.procs import ROOT, Proc, child_env
from bench.sizes import Sizes
from bench.stats import percentile

# The history recipe's job ids (`db.history_recipe`).
PREFIX = "hist_"
STATS_JOB = f"{PREFIX}000001"
ENDPOINTS = {
    "users_me": ("/api/v1/users/me", "/bench/bare/users/me"),
    "tasks": ("/api/v1/tasks?limit=50", "/bench/bare/tasks?limit=50"),
    "stats": (f"/api/v1/tasks/{STATS_JOB}/stats", f"/bench/bare/tasks/{STATS_JOB}/stats"),
}


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "concurrency": sizes.api_concurrency,
        "duration_s": sizes.api_duration_s,
        "requests": {name: paths[0] for name, paths in ENDPOINTS.items()},
        "jobs": sizes.api_jobs,
        "runs_per_job": sizes.api_runs_per_job,
        "load_generator": "bench/loadgen.py, closed loop, httpx async",
        "limit": "bare FastAPI + SQLAlchemy on the same database, the same main query",
    }


def install_jobs(proc: Proc, sizes: Sizes) -> None:
    """The history's jobs, through one import; they first fire in a day."""
    batch = JobBatch(
        prefix=PREFIX, count=sizes.api_jobs, first_fire=time.time() + 86400, interval_s=86400.0
    )
    body = {"jobs": [_create_body(batch, i) for i in range(batch.count)], "mode": "create"}
    response = proc.post("/api/v1/tasks/import", body)
    if response.status_code != 200:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")


def _round(proc: Proc, path: str, sizes: Sizes, workdir: Path, stamp: str) -> dict[str, Any]:
    out = workdir / f"throughput-{stamp}.json"
    config = workdir / f"throughput-{stamp}.config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": proc.url,
                "token": proc.token,
                "concurrency": sizes.api_concurrency,
                "path": path,
                "warmup_s": sizes.api_warmup_s,
                "duration_s": sizes.api_duration_s / 2,
                "out": str(out),
            }
        )
    )
    subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(config)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"throughput-{stamp}.log").open("wb"),
        check=True,
        timeout=sizes.api_duration_s + sizes.wait_budget_s,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _figures(rounds: list[dict[str, Any]], name: str) -> dict[str, Any]:
    samples = [s for r in rounds for s in r["samples"]]
    ok = [s["ms"] for s in samples if s["status"] == 200]
    seconds = sum(r["seconds"] for r in rounds)
    figures: dict[str, Any] = {
        f"{name}_per_second": round(len(ok) / seconds, 1),
        f"{name}_p50_ms": round(percentile(ok, 50), 2),
        f"{name}_p99_ms": round(percentile(ok, 99), 2),
    }
    if len(ok) < len(samples):
        figures[f"{name}_errors"] = len(samples) - len(ok)
    return figures


def run(
    ours: Proc, bare: Proc, sizes: Sizes, workdir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ours's figures, limit's figures)."""
    workdir.mkdir(parents=True, exist_ok=True)
    found: dict[str, dict[str, Any]] = {"ours": {}, "limit": {}}
    for name, (ours_path, bare_path) in ENDPOINTS.items():
        for proc, path in ((ours, ours_path), (bare, bare_path)):
            if proc.get(path.split("?")[0]).status_code != 200:
                raise RuntimeError(f"GET {path} on {proc.kind} did not answer 200")
        rounds: dict[str, list[dict[str, Any]]] = {"ours": [], "limit": []}
        order = (("limit", bare, bare_path), ("ours", ours, ours_path))
        for n, (contender, proc, path) in enumerate((*order, *reversed(order))):
            rounds[contender].append(_round(proc, path, sizes, workdir, f"{name}-{contender}-{n}"))
        for contender in ("ours", "limit"):
            found[contender].update(_figures(rounds[contender], name))
    return found["ours"], found["limit"]
