"""`throughput`: `throughput_jobs` one-off no-op jobs all due at the same moment; the
rate at which their runs are recorded (count / time from the moment they were due to
the last recorded end)."""

from __future__ import annotations

import time
from typing import Any

from bench.contenders import Contender, Run
from bench.jobstore import JobBatch
from bench.lead import attempt_prefix, install_ahead
from bench.procs import Proc
from bench.sizes import Sizes

PREFIX = "thr_"


def params(sizes: Sizes) -> dict[str, Any]:
    return {"jobs": sizes.throughput_jobs, "task": "no-op, all due at once"}


def run(contender: Contender, proc: Proc, sizes: Sizes) -> dict[str, Any]:
    # All at once (`ours`: one import): the figure is how fast runs are recorded, and
    # thousands of creates one by one can take longer than any lead on a busy machine.
    def put(attempt: int, due: float) -> JobBatch:
        jobs = JobBatch(
            prefix=attempt_prefix(PREFIX, attempt), count=sizes.throughput_jobs, first_fire=due
        )
        contender.install_bulk(proc, jobs)
        return jobs

    def drop(late: JobBatch) -> None:
        # Its runs, all due at once, are done before the next batch is due.
        _finished(contender, proc, late, sizes)

    jobs = install_ahead(
        f"{contender.name} import on {proc.database}",
        sizes.throughput_jobs,
        contender.install_lead_s(sizes.throughput_jobs, bulk=True),
        put,
        lambda jobs: jobs.first_fire,
        drop,
        fixed_s=sizes.fire_lead_s,
    )
    due = jobs.first_fire
    time.sleep(max(0.0, due - time.time()))
    runs = _finished(contender, proc, jobs, sizes)
    done = [r for r in runs if r.status == "success"]
    if not done:
        return {"per_second": 0.0, "recorded": 0}
    end = max(r.finished or r.started for r in done)
    return {
        "per_second": round(len(done) / max(end - due, 1e-6), 1),
        "recorded": len(done),
    }


def _finished(contender: Contender, proc: Proc, jobs: JobBatch, sizes: Sizes) -> list[Run]:
    """The batch's finished runs once all are, or none more came for `stall_s`."""
    deadline = time.time() + sizes.wait_budget_s
    last_count, last_change = -1, time.time()
    while True:
        runs = [r for r in contender.runs(proc, jobs.prefix) if r.status != "running"]
        if len(runs) >= jobs.count or time.time() > deadline:
            break
        if len(runs) != last_count:
            last_count, last_change = len(runs), time.time()
        if time.time() - last_change > sizes.stall_s:
            break
        time.sleep(1.0)
    return runs
