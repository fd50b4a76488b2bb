"""How big each benchmark is: the issue's sizes, and the same code at small sizes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    # fire_lateness + api_under_load
    fire_jobs: int
    fire_interval_s: float
    fire_duration_s: float
    fire_lead_s: float
    api_rate_per_endpoint: float
    # list_jobs_100k + memory.rss_100k_jobs_mb
    list_jobs: int
    list_requests: int
    list_page: int
    # history_1m + retention_1m
    history_jobs: int
    history_runs_per_job: int
    history_requests: int
    # history_10m (beside `history_jobs`): runs a job on PostgreSQL and on SQLite, the
    # days they span (the oldest one past the retention), and the jobs firing while the
    # retention runs
    history_big_runs_per_job: int
    history_sqlite_runs_per_job: int
    history_big_days: int
    retention_load_jobs: int
    retention_load_interval_s: float
    retention_baseline_s: float
    # jobs_1m
    big_store_jobs: int
    # startup_10k
    bot_configs: int
    # throughput
    throughput_jobs: int
    # import_10k; create_jobs (beside fire_jobs firing as in fire_lateness_real)
    import_jobs: int
    create_rate_per_second: float
    # api_throughput
    api_concurrency: int
    api_warmup_s: float
    api_duration_s: float
    api_jobs: int
    api_runs_per_job: int
    # the worker pool (bench/pool.py, PostgreSQL only)
    pool_fire_jobs: int
    pool_fire_interval_s: float
    pool_fire_duration_s: float
    pool_sleep_runs: int
    pool_sleep_concurrency: int
    pool_publish_runs: int
    pool_lead_s: float
    # reddit_budget (bench/reddit_budget.py)
    reddit_configs: int
    reddit_apps: int
    reddit_budget_requests: int
    reddit_window_s: float
    reddit_concurrency: int
    # pauses, and bounds so a slow contender cannot stall the run
    settle_s: float
    stall_s: float
    slow_budget_s: float
    wait_budget_s: float

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes(
    fire_jobs=2000,
    fire_interval_s=10.0,
    fire_duration_s=60.0,
    fire_lead_s=4.0,
    api_rate_per_endpoint=10.0,
    list_jobs=100_000,
    list_requests=200,
    list_page=100,
    history_jobs=1000,
    history_runs_per_job=1000,
    history_requests=200,
    history_big_runs_per_job=10_000,
    history_sqlite_runs_per_job=2_000,
    history_big_days=6,
    retention_load_jobs=200,
    retention_load_interval_s=1.0,
    retention_baseline_s=20.0,
    big_store_jobs=1_000_000,
    bot_configs=10_000,
    throughput_jobs=5000,
    import_jobs=10_000,
    create_rate_per_second=5.0,
    api_concurrency=20,
    api_warmup_s=1.0,
    api_duration_s=20.0,
    api_jobs=50,
    api_runs_per_job=1000,
    pool_fire_jobs=10_000,
    pool_fire_interval_s=10.0,
    pool_fire_duration_s=60.0,
    pool_sleep_runs=120,
    pool_sleep_concurrency=10,
    pool_publish_runs=5000,
    pool_lead_s=40.0,
    reddit_configs=1000,
    reddit_apps=10,
    reddit_budget_requests=15,
    reddit_window_s=10.0,
    reddit_concurrency=100,
    settle_s=3.0,
    stall_s=10.0,
    slow_budget_s=60.0,
    wait_budget_s=300.0,
)

QUICK = Sizes(
    fire_jobs=100,
    fire_interval_s=2.0,
    fire_duration_s=4.0,
    fire_lead_s=2.0,
    api_rate_per_endpoint=5.0,
    list_jobs=2000,
    list_requests=20,
    list_page=100,
    history_jobs=50,
    history_runs_per_job=100,
    history_requests=20,
    history_big_runs_per_job=300,
    history_sqlite_runs_per_job=300,
    history_big_days=6,
    retention_load_jobs=20,
    retention_load_interval_s=1.0,
    retention_baseline_s=2.0,
    big_store_jobs=5000,
    bot_configs=300,
    throughput_jobs=200,
    import_jobs=200,
    create_rate_per_second=2.0,
    api_concurrency=20,
    api_warmup_s=0.3,
    api_duration_s=2.0,
    api_jobs=50,
    api_runs_per_job=20,
    pool_fire_jobs=40,
    pool_fire_interval_s=2.0,
    pool_fire_duration_s=4.0,
    pool_sleep_runs=10,
    pool_sleep_concurrency=5,
    pool_publish_runs=100,
    # Starting a leader, an API and three workers took 10 to 32 s here with the other
    # sessions beside it: a shorter lead starts every pool twice.
    pool_lead_s=25.0,
    reddit_configs=10,
    reddit_apps=2,
    reddit_budget_requests=4,
    reddit_window_s=5.0,
    reddit_concurrency=10,
    settle_s=1.0,
    stall_s=2.0,
    slow_budget_s=5.0,
    wait_budget_s=120.0,
)
