"""Prometheus metrics of the scheduler, served at `/metrics`.

Each process has its own registry, and runs happen only in the scheduler leader, so
run metrics (runs, durations, lateness, running, last success) come from the leader's
`/metrics`, runs on workers included (the leader counts those running from their
rows); every process reports `scheduler_leader` (1 where it leads), which tells
Prometheus which target that is. API-only workers expose the process metrics alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# Seconds; runs go from milliseconds (cleanups) to an hour (a large scrape).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
# Seconds between a run's fire time and its start: small unless the scheduler was busy
# or down, when it can be anything up to the downtime.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

RUNS = Counter(
    "scheduler_job_runs",
    "Finished job runs (every status, missed and skipped ones too), by job and status",
    ["job_id", "status"],
)
# Histograms by task name, not job id: a bucket set per job would grow with every bot.
DURATION = Histogram(
    "scheduler_job_duration_seconds",
    "How long runs took, by task",
    ["task"],
    buckets=DURATION_BUCKETS,
)
LATENESS = Histogram(
    "scheduler_job_lateness_seconds",
    "Start of a scheduled run minus its fire time, by task",
    ["task"],
    buckets=LATENESS_BUCKETS,
)
# Runs running now, wherever they run: on the leader (counted as they start and end),
# or claimed by a worker and not ended (the leader counts their rows, see
# `pool_running`). Queued runs are not running yet: `pool_queue_depth`.
RUNNING = Gauge(
    "scheduler_jobs_running",
    "Runs running now, on the leader or on a worker, by task (queued runs: pool_queue_depth)",
    ["task"],
)
LEADER = Gauge("scheduler_leader", "1 if this process is the scheduler leader, else 0")
LAST_SUCCESS = Gauge(
    "scheduler_job_last_success_timestamp_seconds",
    "Unix time of the last successful run, by job",
    ["job_id"],
)

# Reddit apps are labelled by id ("env" for REDDIT_CLIENT_ID's), never by name or client
# id: one series per app, and nothing a user typed.
REDDIT_REQUESTS = Counter(
    "reddit_requests", "Requests sent to Reddit's API (retries too), by Reddit app", ["app"]
)
REDDIT_RATE_LIMITED = Counter(
    "reddit_rate_limited", "429 answers from Reddit's API, by Reddit app", ["app"]
)
REDDIT_BUDGET_REMAINING = Gauge(
    "reddit_budget_remaining",
    "Requests left in the app's rate-limit window, as Reddit's last answer here said",
    ["app"],
)


def reddit_request(app: str) -> None:
    REDDIT_REQUESTS.labels(app).inc()


def reddit_rate_limited(app: str) -> None:
    REDDIT_RATE_LIMITED.labels(app).inc()


def reddit_budget_remaining(app: str, remaining: float) -> None:
    REDDIT_BUDGET_REMAINING.labels(app).set(remaining)


def _task(task: str | None) -> str:
    return task or "unknown"


def set_leader(leading: bool) -> None:
    LEADER.set(1 if leading else 0)


def run_started(task: str | None, scheduled_at: datetime | None, started_at: datetime) -> None:
    """A run on the leader has claimed its slot and starts now."""
    RUNNING.labels(_task(task)).inc()
    observe_lateness(task, scheduled_at, started_at)


def observe_lateness(task: str | None, scheduled_at: datetime | None, started_at: datetime) -> None:
    """Manual runs have no fire time, hence no lateness."""
    if scheduled_at is not None:
        LATENESS.labels(_task(task)).observe(max(0.0, (started_at - scheduled_at).total_seconds()))


def run_finished(
    job_id: str,
    task: str | None,
    status: str,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """A run on the leader has ended."""
    RUNNING.labels(_task(task)).dec()
    observe_run(job_id, task, status, started_at, finished_at)


def observe_run(
    job_id: str,
    task: str | None,
    status: str,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """The duration and outcome of a run that started."""
    DURATION.labels(_task(task)).observe((finished_at - started_at).total_seconds())
    observe_outcome(job_id, status, finished_at)


def observe_outcome(job_id: str, status: str, at: datetime) -> None:
    """Count an outcome; runs that never started (missed, skipped) come only here."""
    RUNS.labels(job_id, status).inc()
    if status == "success":
        LAST_SUCCESS.labels(job_id).set(at.timestamp())


def render() -> tuple[bytes, str]:
    """The exposition text of this process's registry, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


# The broker executor. The leader reports the queue, waits, workers and reaps; each
# worker process reports the deliveries it dropped (on its own metrics port).
POOL_QUEUE_DEPTH = Gauge("pool_queue_depth", "Runs queued for a worker and not yet claimed")
POOL_DISPATCH_WAIT = Histogram(
    "pool_dispatch_wait_seconds",
    "From a run's queued row to a worker's claim, by task",
    ["task"],
    buckets=LATENESS_BUCKETS,
)
POOL_WORKERS_ALIVE = Gauge("pool_workers_alive", "Workers whose heartbeat is within the lease")
POOL_REAPED = Counter(
    "pool_reaped_runs",
    "Runs the leader ended for a worker, by reason (interrupted, timeout, missed)",
    ["reason"],
)
POOL_DUPLICATES_DROPPED = Counter(
    "pool_duplicate_deliveries_dropped",
    "Deliveries a worker acknowledged without running: their run was claimed already",
)


def pool_state(queue_depth: int, workers_alive: int) -> None:
    POOL_QUEUE_DEPTH.set(queue_depth)
    POOL_WORKERS_ALIVE.set(workers_alive)


# Tasks `pool_running` has given a value, so that one with no run left goes back to 0.
_pool_running_tasks: set[str] = set()


def pool_running(counts: Mapping[str | None, int]) -> None:
    """Runs running on workers now, by task, as their rows say: with the broker
    executor every run is one of them, whichever leader queued it."""
    current = {_task(task): count for task, count in counts.items()}
    for task in _pool_running_tasks - current.keys():
        RUNNING.labels(task).set(0)
    for task, count in current.items():
        RUNNING.labels(task).set(count)
    _pool_running_tasks.clear()
    _pool_running_tasks.update(current)


def pool_dispatched(task: str | None, queued_at: datetime, claimed_at: datetime) -> None:
    POOL_DISPATCH_WAIT.labels(_task(task)).observe(
        max(0.0, (claimed_at - queued_at).total_seconds())
    )


def pool_reaped(reason: str, count: int) -> None:
    if count:
        POOL_REAPED.labels(reason).inc(count)


def pool_duplicate_dropped() -> None:
    POOL_DUPLICATES_DROPPED.inc()
