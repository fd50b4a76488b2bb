"""`fire_lateness` and `api_under_load`, measured together; `fire_lateness_real`, the
same with a task that writes.

`fire_jobs` interval jobs, every `fire_interval_s`, their first fire times spread evenly
over one interval (2,000 jobs every 10 s: one fire every 5 ms, 200 per second), each
firing `fire_duration_s / fire_interval_s` times and then ending. Lateness is the task's
own start time minus the fire time it ran for. Meanwhile a second process sends
`GET /api/v1/tasks/{id}` and `GET /api/v1/tasks?limit=50`, alternately, at a fixed rate.

In `fire_lateness` the task does nothing. In `fire_lateness_real` each run does what a
small maintenance task such as `cleanup_expired_tokens` does: one write transaction in
the app's database (`bench.tasks.bench_write`: one row of a small table updated and
committed; `limit` runs the same update through bare SQLAlchemy). Its entry carries the
API figures measured beside it (`api_p50_ms`, `api_p99_ms`).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.contenders import Contender, Run
from bench.db import sync_engine
from bench.jobstore import JobBatch
from bench.lead import attempt_prefix, install_ahead
from bench.procs import ROOT, Proc, child_env
from bench.sizes import Sizes
from bench.stats import ms, percentile
from bench.tasks import create_counters

PREFIX = "fire_"
REAL_PREFIX = "real_"


def slots_per_job(sizes: Sizes) -> int:
    return round(sizes.fire_duration_s / sizes.fire_interval_s)


def batch(sizes: Sizes, first_fire: float, *, prefix: str = PREFIX, work: str = "noop") -> JobBatch:
    """One run more than the window holds, after it: every job stays in the store (and
    in the API's answers) until the window ends."""
    return JobBatch(
        prefix=prefix,
        count=sizes.fire_jobs,
        first_fire=first_fire,
        interval_s=sizes.fire_interval_s,
        stagger_s=sizes.fire_interval_s / sizes.fire_jobs,
        runs=slots_per_job(sizes) + 1,
        work=work,
    )


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "jobs": sizes.fire_jobs,
        "interval_s": sizes.fire_interval_s,
        "duration_s": sizes.fire_duration_s,
        "fires_per_second": round(sizes.fire_jobs / sizes.fire_interval_s, 1),
        "task": "no-op, history recorded (ours, design); no history (limit)",
    }


def real_params(sizes: Sizes) -> dict[str, Any]:
    return {
        **params(sizes),
        "task": (
            "one write transaction: UPDATE of one row of a 100-row table, committed "
            "(ours, design: the app's session, history recorded; limit: bare SQLAlchemy, "
            "no history)"
        ),
        "api": api_params(sizes)["requests"],
        "api_rate_per_second": sizes.api_rate_per_endpoint * 2,
    }


def prepare_real(proc: Proc) -> None:
    """The table `bench_write` updates, in the contender's database."""
    engine = sync_engine(proc.database_url)
    try:
        create_counters(engine)
    finally:
        engine.dispose()


def api_params(sizes: Sizes) -> dict[str, Any]:
    return {
        "rate_per_second": sizes.api_rate_per_endpoint * 2,
        "requests": [
            "GET /api/v1/tasks/{id}",
            "GET /api/v1/tasks?limit=50",
        ],
        "duration_s": sizes.fire_duration_s,
        "during": "fire_lateness",
    }


def _load_requests(sizes: Sizes, jobs: JobBatch) -> list[tuple[str, str]]:
    rng = random.Random(7)
    total = int(sizes.fire_duration_s * sizes.api_rate_per_endpoint * 2)
    requests = []
    for k in range(total):
        if k % 2 == 0:
            job_id = jobs.job_id(rng.randrange(jobs.count))
            requests.append(("job", f"/api/v1/tasks/{job_id}"))
        else:
            requests.append(("list", "/api/v1/tasks?limit=50"))
    return requests


def _start_load(proc: Proc, sizes: Sizes, jobs: JobBatch, workdir: Path) -> tuple[Any, Path]:
    out = workdir / f"load-{jobs.prefix}{proc.kind}-{proc.port}.json"
    config = workdir / f"load-{jobs.prefix}{proc.kind}-{proc.port}.config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": proc.url,
                "token": proc.token,
                "rate": sizes.api_rate_per_endpoint * 2,
                "start": jobs.first_fire,
                "requests": _load_requests(sizes, jobs),
                "out": str(out),
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", str(config)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"load-{jobs.prefix}{proc.kind}-{proc.port}.log").open("wb"),
    )
    return process, out


def _collect(contender: Contender, proc: Proc, jobs: JobBatch, sizes: Sizes) -> list[Run]:
    """Runs once they stop coming: every expected slot recorded and finished, or
    nothing new for a few seconds."""
    expected = jobs.count * (jobs.runs or 1)  # the window's runs and the one after
    deadline = time.time() + sizes.wait_budget_s
    last_count, last_change = -1, time.time()
    while True:
        runs = contender.runs(proc, jobs.prefix)
        finished = [r for r in runs if r.status != "running"]
        if len(finished) >= expected:
            return runs
        if len(finished) != last_count:
            last_count, last_change = len(finished), time.time()
        if time.time() - last_change > sizes.stall_s or time.time() > deadline:
            return runs
        time.sleep(0.5)


def run_real(
    contender: Contender,
    proc: Proc,
    sizes: Sizes,
    workdir: Path,
    beside: Beside | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`fire_lateness_real`, with the API's figures beside it; and the figures of what
    `beside` ran in the same window (`create_jobs`), with the window's slots."""
    prepare_real(proc)
    # Its jobs come in one import, as `create_jobs`'s always did: one by one,
    # 2,000 creates would take longer than the window itself on a busy machine.
    fire, api, extra = run(
        contender,
        proc,
        sizes,
        workdir,
        prefix=REAL_PREFIX,
        work="write",
        beside=beside,
        bulk=True,
    )
    real = {
        **fire,
        "api_p50_ms": api["p50_ms"],
        "api_p99_ms": api["p99_ms"],
        "api_max_ms": api["max_ms"],
        "api_requests": api["requests"],
        "api_errors": api["errors"],
    }
    if extra is not None:
        extra = {**extra, "fired": fire["recorded"], "expected": fire["expected"]}
    return real, extra


def install(
    contender: Contender, proc: Proc, sizes: Sizes, *, prefix: str, work: str, bulk: bool
) -> JobBatch:
    """The window's jobs, installed before their first fire (`bench.lead`)."""

    def put(attempt: int, first_fire: float) -> JobBatch:
        jobs = batch(sizes, first_fire, prefix=attempt_prefix(prefix, attempt), work=work)
        if bulk:
            contender.install_bulk(proc, jobs)
        else:
            contender.install(proc, jobs)
        return jobs

    def drop(late: JobBatch) -> None:
        # Its jobs end after their runs: the next batch's window starts without them.
        last_fire = late.start(late.count - 1) + slots_per_job(sizes) * sizes.fire_interval_s
        time.sleep(max(0.0, last_fire + sizes.fire_interval_s - time.time()))

    kind = f"{contender.name} {'import' if bulk else 'create'} on {proc.database}"
    return install_ahead(
        kind,
        sizes.fire_jobs,
        contender.install_lead_s(sizes.fire_jobs, bulk),
        put,
        lambda jobs: jobs.first_fire,
        drop,
        fixed_s=sizes.fire_lead_s,
    )


# Another load in the same window: started with the window's first fire time, it returns
# what waits for it and gives its figures.
Beside = Callable[[Proc, Sizes, Path, float], Callable[[], dict[str, Any]]]


def run(
    contender: Contender,
    proc: Proc,
    sizes: Sizes,
    workdir: Path,
    *,
    prefix: str = PREFIX,
    work: str = "noop",
    beside: Beside | None = None,
    bulk: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """(lateness figures, API figures, the figures of `beside`). `bulk`: the jobs are
    installed all at once (`ours`: one import)."""
    jobs = install(contender, proc, sizes, prefix=prefix, work=work, bulk=bulk)
    load, load_out = _start_load(proc, sizes, jobs, workdir)
    finish_beside = beside(proc, sizes, workdir, jobs.first_fire) if beside else None
    end = jobs.first_fire + sizes.fire_duration_s
    time.sleep(max(0.0, end - time.time()))
    load.wait(timeout=sizes.wait_budget_s)
    extra = finish_beside() if finish_beside else None
    # The jobs' last runs come within one interval after the window; then they are gone.
    time.sleep(max(0.0, end + sizes.fire_interval_s - time.time()))
    runs = _collect(contender, proc, jobs, sizes)

    lateness: list[float] = []
    slots: set[tuple[str, float]] = set()
    statuses: dict[str, int] = {}
    for r in runs:
        if r.status != "success":
            if r.scheduled is None or r.scheduled < end - 1e-3:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            continue
        slot = r.scheduled if r.scheduled is not None else jobs.slot(r.job_id, r.started)
        if slot >= end - 1e-3:  # fire times are kept to the microsecond
            continue
        slots.add((r.job_id, round(slot, 3)))
        lateness.append(r.started - slot)
    fire: dict[str, Any] = {
        "p50_ms": ms(percentile(lateness, 50)),
        "p99_ms": ms(percentile(lateness, 99)),
        "max_ms": ms(max(lateness)) if lateness else None,
        "recorded": len(slots),
        "expected": jobs.count * slots_per_job(sizes),
    }
    if statuses:
        fire["other_outcomes"] = statuses

    samples = json.loads(load_out.read_text()) if load_out.exists() else []
    ok = [s["ms"] for s in samples if s["status"] == 200]
    api = {
        "p50_ms": round(percentile(ok, 50), 2),
        "p99_ms": round(percentile(ok, 99), 2),
        "max_ms": round(max(ok), 2) if ok else None,
        "requests": len(samples),
        "errors": len(samples) - len(ok),
    }
    return fire, api, extra
