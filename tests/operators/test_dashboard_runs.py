"""The job page's timeline and run logs, and an `http_request` job made with the form,
in headless Chromium against the app on a real port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from app.core.config import Settings
from tests.conftest import BACKEND, wait_until
from tests.operators.conftest import LiveServer
from tests.operators.test_dashboard import ARTIFACTS, sign_in
from tests.tasks.http_target import HttpTarget

OUTCOMES = 11


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    target = HttpTarget().start()
    yield target
    target.stop()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS="127.0.0.1")


@pytest.fixture
def tab(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], "the page raised JavaScript errors"


def run_and_wait(server: LiveServer, job_id: str) -> int:
    execution_id: int = server.api("POST", f"/tasks/{job_id}/run").json()["execution_id"]
    wait_until(
        lambda: server.api("GET", f"/tasks/executions/{execution_id}").json()["status"] != "running"
    )
    return execution_id


def test_the_job_page_draws_the_timeline_and_opens_a_run_with_its_logs(
    tab: Page, live_server: LiveServer
) -> None:
    created = live_server.api(
        "POST",
        "/tasks",
        json={
            "id": "talker",
            "task": "test_log",
            "params": {"marker": "TALK", "lines": 2, "fail": True},
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert created.status_code == 201, created.text
    execution_id = run_and_wait(live_server, "talker")

    sign_in(tab, live_server, "#/jobs/talker")
    strip = tab.locator("#timeline-strip")
    expect(strip.locator(".slot[data-outcome=upcoming]")).to_have_count(24)
    ran = strip.locator(f'.slot[data-execution-id="{execution_id}"]')
    expect(ran).to_have_attribute("data-outcome", "failed")
    expect(ran).to_have_attribute("data-trigger", "manual")
    expect(tab.locator("#timeline-legend li")).to_have_count(OUTCOMES)

    ran.click()
    opened = tab.locator("#timeline-run")
    expect(opened.locator("pre.traceback")).to_contain_text("TALK failed on purpose")
    logs = opened.locator(".run-logs li")
    expect(logs.first).to_contain_text("TALK line 0")
    expect(opened.locator(".run-logs")).to_contain_text("TALK about to fail")
    expect(opened.locator(".run-logs .level-error")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"dashboard-timeline-{BACKEND}.png"), full_page=True)

    # The executions table shows the same logs beside the traceback.
    row = tab.locator("#executions-table tr.execution").first
    row.locator("[data-action=details]").click()
    detail = tab.locator("#executions-table .detail-body")
    expect(detail.locator("pre.traceback")).to_contain_text("ValueError")
    expect(detail.locator(".run-logs")).to_contain_text("TALK from a thread")


def test_create_an_http_request_job_with_the_form_and_read_its_logs(
    tab: Page, live_server: LiveServer, http_target: HttpTarget
) -> None:
    url = f"{http_target.url}/ok"
    sign_in(tab, live_server, "#/new")
    tab.fill("#job-id", "pinger")
    tab.select_option("#task-select", "http_request")
    expect(tab.locator("select[name='param:method']")).to_have_value("GET")
    tab.select_option("select[name='param:method']", "POST")
    tab.fill("input[name='param:url']", url)
    tab.fill("textarea[name='param:headers']", '{"X-From": "dashboard"}')
    tab.fill("textarea[name='param:body']", '"ping"')
    tab.fill("textarea[name='param:expected_status']", "[200, 204]")
    tab.fill("#cron-expression", "0 6 * * *")
    tab.click("#save-button")
    tab.wait_for_url("**/dashboard#/jobs/pinger")

    job = live_server.api("GET", "/tasks/pinger").json()
    assert job["params"] == {
        "method": "POST",
        "url": url,
        "headers": {"X-From": "dashboard"},
        "body": "ping",
        "expected_status": [200, 204],
    }
    tab.click("#job-header [data-action=run]")
    ran = tab.locator("#timeline-strip .slot[data-trigger=manual]")
    expect(ran).to_have_attribute("data-outcome", "success")
    ran.click()
    logs = tab.locator("#timeline-run .run-logs")
    expect(logs).to_contain_text(f"request: POST {url}")
    expect(logs).to_contain_text(f"response: POST {url}: 200 in")
    [request] = http_target.requests
    assert request["headers"]["X-From"] == "dashboard"
    assert request["body"] == "ping"


def test_the_form_shows_a_host_that_is_not_allowed_and_saves_nothing(
    tab: Page, live_server: LiveServer
) -> None:
    sign_in(tab, live_server, "#/new")
    tab.fill("#job-id", "elsewhere")
    tab.select_option("#task-select", "http_request")
    tab.fill("input[name='param:url']", "https://example.com/")
    tab.fill("#cron-expression", "0 6 * * *")
    tab.click("#save-button")
    expect(tab.locator('[data-error-for="params.url"]')).to_contain_text("HTTP_TASK_ALLOWED_HOSTS")
    assert live_server.api("GET", "/tasks/elsewhere").status_code == 404


def test_cancel_a_running_run_and_backfill_past_slots_from_the_job_page(
    tab: Page, live_server: LiveServer, http_target: HttpTarget
) -> None:
    created = live_server.api(
        "POST",
        "/tasks",
        json={
            "id": "waiter",
            "task": "http_request",
            "params": {"url": f"{http_target.url}/slow/120", "timeout_seconds": 300},
            "trigger": {"type": "cron", "hour": 3, "minute": 0},
        },
    )
    assert created.status_code == 201, created.text
    execution_id = live_server.api("POST", "/tasks/waiter/run").json()["execution_id"]
    wait_until(lambda: http_target.count("/slow/120") == 1)

    sign_in(tab, live_server, "#/jobs/waiter")
    row = tab.locator(f'#executions-table tr.execution[data-execution-id="{execution_id}"]')
    tab.fill("#reason", "from the dashboard")
    row.locator("[data-action=cancel]").click()
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row.locator("[data-action=cancel]")).to_have_count(0)
    run = live_server.api("GET", f"/tasks/executions/{execution_id}").json()
    assert run["status"] == "cancelled"
    assert "from the dashboard" in run["error_message"]

    # Any two days hold two of its 03:00 UTC slots, whatever the browser's time zone.
    live_server.api("PATCH", "/tasks/waiter", json={"params": {"url": f"{http_target.url}/ok"}})
    tab.fill("#backfill-start", "2026-01-01T00:00")
    tab.fill("#backfill-end", "2026-01-03T00:00")
    tab.click("#backfill-form [data-action=backfill]")
    expect(tab.locator("#toast")).to_contain_text("2 slot(s)")
    wait_until(
        lambda: (
            len(
                live_server.api(
                    "GET", "/tasks/waiter/executions", params={"trigger": "backfill"}
                ).json()
            )
            == 2
        )
    )
