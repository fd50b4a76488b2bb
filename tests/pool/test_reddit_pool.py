"""Scraping on the worker pool: bot jobs run on `reddit-bot worker` processes, and the
rate budget of a Reddit app holds across all of them (it lives in the database, not in
a process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.models.task_execution import ExecutionStatus
from tests.conftest import wait_until
from tests.fakes.reddit import CLIENT_ID, FakeComment, FakeReddit
from tests.multiprocess.conftest import Node
from tests.pool.conftest import PoolCluster, needs_postgresql

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]

CONFIGS = 12
BUDGET = 6
WINDOW_SECONDS = 2.0


@pytest.fixture
def fake_reddit() -> Iterator[FakeReddit]:
    fake = FakeReddit().start()
    try:
        yield fake
    finally:
        fake.stop()


def reddit_env(fake: FakeReddit) -> dict[str, str]:
    return {name: str(value) for name, value in fake.settings().items()}


def create_bot(node: Node, subreddit: str) -> dict[str, Any]:
    response = node.request(
        "POST",
        "/api/v1/bot-configs",
        json={
            "name": f"watcher of {subreddit}",
            "subreddits": [subreddit],
            "posts_limit": 25,
            "include_comments": True,
            "comments_limit": 50,
            "auto_scrape_enabled": True,
            "scrape_interval_hours": 24,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sessions(node: Node, bot_config_id: int) -> list[dict[str, Any]]:
    response = node.request(
        "GET", "/api/v1/scrape-sessions", params={"bot_config_id": bot_config_id}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_configs_of_one_app_scraping_on_three_workers_stay_inside_its_budget(
    pool: PoolCluster, fake_reddit: FakeReddit
) -> None:
    fake_reddit.enforce_budget(BUDGET, window_seconds=WINDOW_SECONDS)
    env = reddit_env(fake_reddit)
    [leader] = pool.start_leaders(1, **env)
    # Scrapes mostly wait on Reddit: io workers alone must take them.
    workers = pool.start_workers("r1", "r2", "r3", WORKER_QUEUES="io", **env)
    bots = []
    for i in range(CONFIGS):
        for title in ("one", "two"):
            fake_reddit.add_post(f"pool{i}", title, comments=[FakeComment("c")])
        bots.append(create_bot(leader, f"pool{i}"))
    job_ids = [f"bot_scraping_{bot['id']}" for bot in bots]
    # A bot config's job exists as soon as the config does, and follows it.
    listed = {j["id"] for j in leader.request("GET", "/api/v1/tasks").json()["items"]}
    assert set(job_ids) <= listed

    for job_id in job_ids:
        response = leader.request("POST", f"/api/v1/tasks/{job_id}/run")
        assert response.status_code == 202, response.text

    def all_finished() -> bool:
        return all(
            any(s["status"] in ("completed", "failed") for s in sessions(leader, bot["id"]))
            for bot in bots
        )

    # 36 requests at 6 per 2-second window: at least 12 s of waiting for the budget.
    wait_until(all_finished, timeout=180, interval=0.5)

    finished = [sessions(leader, bot["id"]) for bot in bots]
    # One session per config: a run was never duplicated by the pool.
    assert [len(s) for s in finished] == [1] * CONFIGS
    assert [s[0]["status"] for s in finished] == ["completed"] * CONFIGS, finished
    assert [s[0]["requests_made"] for s in finished] == [3] * CONFIGS
    assert fake_reddit.requests_of(CLIENT_ID) == 3 * CONFIGS
    assert fake_reddit.rate_limited[CLIENT_ID] == 0
    assert fake_reddit.max_per_window(CLIENT_ID) <= BUDGET
    assert sum(s[0]["rate_limit_wait_seconds"] for s in finished) > 0

    def runs_ended() -> list[Any]:
        rows = [r for r in pool.rows() if r.job_id in job_ids]
        done = all(r.status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING) for r in rows)
        return rows if done and len(rows) >= CONFIGS else []

    rows = wait_until(runs_ended, timeout=30)
    assert {r.status for r in rows} == {ExecutionStatus.SUCCESS}
    assert len(rows) == CONFIGS
    runners = {r.runner for r in rows}
    assert runners <= {w.worker_id for w in workers}
    assert len(runners) > 1, runners
    # The job's history shows the run on its worker, with the session's summary.
    history = leader.request("GET", f"/api/v1/tasks/{job_ids[0]}/executions").json()
    assert history[0]["status"] == "success"
    assert history[0]["runner"] in runners
    assert history[0]["result"]["requests_made"] == 3
