"""Prometheus `/metrics` after real runs. The registry is the process's, shared by every
test in the run, so each test uses job ids of its own and compares before and after."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from tests.conftest import create_job, run_and_wait, running_app, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_runs_are_counted_by_job_and_status_with_durations(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    ok, bad = f"m_ok_{uuid.uuid4().hex[:6]}", f"m_bad_{uuid.uuid4().hex[:6]}"
    for job_id, fail in ((ok, False), (bad, True)):
        await create_job(
            client,
            admin_headers,
            id=job_id,
            task="test_record",
            params={"path": str(tmp_path / job_id), "fail": fail},
            trigger={"type": "interval", "hours": 1},
        )
    before = await scrape(client)
    assert value(before, "scheduler_leader") == 1

    await run_and_wait(client, admin_headers, ok)
    await run_and_wait(client, admin_headers, ok)
    failed = await run_and_wait(client, admin_headers, bad)
    assert failed["status"] == "failed"

    after = await scrape(client)
    assert value(after, "scheduler_job_runs_total", job_id=ok, status="success") == 2
    assert value(after, "scheduler_job_runs_total", job_id=bad, status="failed") == 1
    assert value(after, "scheduler_job_runs_total", job_id=bad, status="success") == 0
    count = "scheduler_job_duration_seconds_count"
    assert value(after, count, task="test_record") - value(before, count, task="test_record") == 3
    assert value(after, "scheduler_jobs_running", task="test_record") == 0
    last_success = value(after, "scheduler_job_last_success_timestamp_seconds", job_id=ok)
    assert last_success > 0
    assert (bad,) not in {
        (dict(labels).get("job_id"),)
        for (name, labels) in after
        if name == "scheduler_job_last_success_timestamp_seconds"
    }


async def test_scheduled_runs_report_their_lateness(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    before = await scrape(client)
    job_id = f"m_cron_{uuid.uuid4().hex[:6]}"
    await create_job(
        client,
        admin_headers,
        id=job_id,
        task="test_sleep",
        params={"seconds": 0.01},
        trigger={"type": "cron", "expression": "* * * * * *"},
    )

    async def two_runs() -> bool:
        samples = await scrape(client)
        return value(samples, "scheduler_job_runs_total", job_id=job_id, status="success") >= 2

    await wait_for(two_runs, timeout=15)
    await client.post(f"/api/v1/tasks/{job_id}/pause", headers=admin_headers)
    after = await scrape(client)
    count = "scheduler_job_lateness_seconds_count"
    assert value(after, count, task="test_sleep") - value(before, count, task="test_sleep") >= 2
    late = "scheduler_job_lateness_seconds_sum"
    # A scheduler with nothing else to do starts a run well within a second of its slot.
    runs = value(after, count, task="test_sleep") - value(before, count, task="test_sleep")
    spent = value(after, late, task="test_sleep") - value(before, late, task="test_sleep")
    assert 0 <= spent / runs < 1


async def test_processes_without_the_scheduler_say_they_do_not_lead(
    settings_factory: Callable[..., Settings],
) -> None:
    async with running_app(settings_factory(SCHEDULER_ENABLED=False)) as (_, client):
        samples = await scrape(client)
    assert value(samples, "scheduler_leader") == 0


async def test_metrics_can_be_turned_off(settings_factory: Callable[..., Settings]) -> None:
    async with running_app(settings_factory(SCHEDULER_ENABLED=False, METRICS_ENABLED=False)) as (
        _,
        client,
    ):
        assert (await client.get("/metrics")).status_code == 404
