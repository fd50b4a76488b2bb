"""The dashboard in headless Chromium (Debian's `chromium`), against the app served on a
real port with its scheduler running. Set CHROMIUM_PATH to use another binary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Response, expect

from app.api.v1.routes.dashboard_routes import STATIC_DIR, STATIC_PATH
from app.core.email import ConsoleEmailSender
from tests.conftest import BACKEND, PASSWORD, wait_until
from tests.operators.conftest import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BUILTIN = {"cleanup_tokens", "cleanup_sessions", "cleanup_content", "cleanup_executions"}


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], "the page raised JavaScript errors"


def sign_in(
    page: Page, server: LiveServer, fragment: str = "", email: str = "admin@example.com"
) -> None:
    page.goto(f"{server.url}/dashboard{fragment}")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#who")).to_have_text(email)


def make_user(server: LiveServer, role: str | None) -> str:
    email = f"{role or 'owner'}.user@example.com"
    body = {"email": email, "password": PASSWORD, "role": role}
    created = server.api("POST", "/users", json=body)
    assert created.status_code == 201, created.text
    return email


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f'#jobs-table tr[data-job-id="{job_id}"]')


def test_sign_in_and_see_the_builtin_jobs(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    rows = page.locator("#jobs-table tbody tr[data-job-id]")
    expect(rows).to_have_count(4)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.jobId)")) == BUILTIN
    schedule = {
        "cleanup_tokens": "every hour",
        "cleanup_sessions": "every day at 02:00 UTC",
        "cleanup_content": "every Sunday at 02:30 UTC",
        "cleanup_executions": "every day at 03:00 UTC",
    }
    for job_id, text in schedule.items():
        row = job_row(page, job_id)
        expect(row.locator(".schedule")).to_have_text(text)
        expect(row.locator(".state")).to_have_text("active")
        expect(row.locator(".last-status")).to_have_text("never run")
        expect(row.locator(".next-run")).to_contain_text("UTC")
    overview = page.locator("#overview")
    expect(overview).to_contain_text("alive")
    expect(overview).to_contain_text("this process")
    expect(page.locator("#running-count")).to_have_text("0")
    # EXECUTOR=local: no workers, runs happen on the leader.
    expect(page.locator("#workers-alive")).to_have_text("none")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-jobs-{BACKEND}.png"), full_page=True)


def test_the_pages_load_only_javascript_modules_from_this_origin(
    page: Page, live_server: LiveServer
) -> None:
    # Module scripts are refused unless served with a JavaScript type, and the policy
    # allows nothing from elsewhere: every file must come back whole from this origin.
    responses: list[Response] = []
    requests: list[str] = []
    refused: list[str] = []
    page.on("response", lambda response: responses.append(response))
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, live_server)
    expect(page.locator("#jobs-table")).to_be_visible()
    page.goto(f"{live_server.url}/reset-password?token=x")
    # The reset page's script takes the token out of the address once it has run.
    expect(page).to_have_url(f"{live_server.url}/reset-password")

    scripts = {urlsplit(r.url).path: r for r in responses if r.request.resource_type == "script"}
    on_disk = {
        f"{STATIC_PATH}/{path.relative_to(STATIC_DIR).as_posix()}"
        for path in STATIC_DIR.rglob("*.js")
    }
    assert set(scripts) == on_disk
    for path, response in scripts.items():
        assert response.status == 200, path
        kind = response.header_value("content-type") or ""
        assert kind.split(";")[0] in {"text/javascript", "application/javascript"}, (path, kind)
    elsewhere = [url for url in requests if not url.startswith(f"{live_server.url}/")]
    assert elsewhere == []
    assert refused == []
    policy = httpx.get(f"{live_server.url}/dashboard").headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy


def test_a_wrong_password_is_refused(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/dashboard")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "not-the-password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    expect(page.locator("#jobs-table")).to_have_count(0)


def test_a_pause_is_still_there_after_a_reload(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    page.fill("#reason", "maintenance window")
    job_row(page, "cleanup_sessions").locator("[data-action=pause]").click()
    expect(job_row(page, "cleanup_sessions").locator(".state")).to_have_text("paused")

    page.reload()
    row = job_row(page, "cleanup_sessions")
    expect(row.locator(".state")).to_have_text("paused")
    expect(row.locator("[data-action=resume]")).to_be_visible()
    expect(row.locator(".next-run")).to_have_text("—")
    expect(job_row(page, "cleanup_tokens").locator(".state")).to_have_text("active")
    assert live_server.api("GET", "/tasks/cleanup_sessions").json()["paused"] is True

    row.locator("a.job-name").click()
    entry = page.locator("#audit-table .audit-entry").first
    expect(entry).to_contain_text("admin@example.com")
    expect(entry.locator(".reason")).to_have_text("maintenance window")
    expect(entry).to_contain_text("paused: false → true")


def test_resume_and_catch_up_from_the_dashboard(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    job_row(page, "cleanup_sessions").locator("[data-action=pause]").click()
    row = job_row(page, "cleanup_sessions")
    expect(row.locator(".state")).to_have_text("paused")
    row.locator("[data-action=resume-catch-up]").click()
    expect(job_row(page, "cleanup_sessions").locator(".state")).to_have_text("active")
    audit = live_server.api("GET", "/tasks/cleanup_sessions/audit").json()["items"]
    # Resumed with a catch-up: the audit entry says how many missed slots it ran.
    assert audit[0]["action"] == "resume"
    assert audit[0]["after"]["catch_up"] == 0


def test_run_now_and_see_the_execution(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "#/jobs/cleanup_tokens")
    expect(page.locator("#job-title")).to_have_text("Clean up expired tokens")
    expect(page.locator("#executions")).to_contain_text("No executions.")
    page.click("#job-header [data-action=run]")
    executions = page.locator("#executions-table tr.execution")
    expect(executions).to_have_count(1)
    expect(executions.first).to_contain_text("success")
    expect(executions.first).to_contain_text("manual")
    expect(page.locator("#job-chart rect.bar.success")).to_have_count(1)
    expect(page.locator("#stat-success-rate")).to_have_text("100%")
    executions.first.locator("[data-action=details]").click()
    expect(page.locator("#executions-table pre.result")).to_contain_text("total_cleaned")
    expect(page.locator("#audit-table .audit-entry").first).to_contain_text("run")


def test_a_failed_run_shows_its_traceback(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    created = live_server.api(
        "POST",
        "/tasks",
        json={
            "id": "broken_export",
            "task": "test_record",
            "params": {"path": str(tmp_path / "x"), "fail": True},
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert created.status_code == 201, created.text
    run = live_server.api("POST", "/tasks/broken_export/run").json()
    wait_until(
        lambda: (
            live_server.api("GET", f"/tasks/executions/{run['execution_id']}").json()["status"]
            == "failed"
        )
    )
    sign_in(page, live_server)
    expect(job_row(page, "broken_export").locator(".last-status")).to_have_text("failed")
    expect(job_row(page, "broken_export").locator(".success-rate")).to_have_text("0%")
    job_row(page, "broken_export").locator("a.job-name").click()
    row = page.locator("#executions-table tr.execution").first
    expect(row).to_contain_text("boom: the task failed on purpose")
    traceback = page.locator("#executions-table pre.traceback")
    expect(traceback).to_have_count(0)
    row.locator("[data-action=details]").click()
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("ValueError")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-job-{BACKEND}.png"), full_page=True)
    row.locator("[data-action=details]").click()
    expect(traceback).to_be_hidden()
    expect(page.locator("#job-chart rect.bar.failed")).to_have_count(1)


def test_preview_a_cron_trigger(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "#/new")
    page.fill("#cron-expression", "30 4 * * 1-5")
    page.click("#preview-button")
    times = page.locator("#preview-list li")
    expect(times).to_have_count(5)
    expect(page.locator("#preview-description")).to_contain_text(
        "every weekday (Monday to Friday) at 04:30 UTC"
    )
    for text in times.all_text_contents():
        assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri) \d{4}-\d{2}-\d{2} 04:30:00 UTC", text), text


def test_an_invalid_trigger_shows_the_error_and_saves_nothing(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, live_server, "#/new")
    page.fill("#job-id", "half_baked")
    page.select_option("#task-select", "test_record")
    page.fill("input[name='param:path']", str(tmp_path / "h"))
    trigger_error = page.locator('#trigger-fieldset [data-error-for="trigger"]')

    page.fill("#cron-expression", "61 * * * *")
    page.click("#save-button")
    expect(page.locator('[data-error-for="trigger.cron.expression"]')).to_contain_text(
        "minute '61': '61' is out of range (values 0-59)"
    )
    expect(page.locator("#preview-list li")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-form-error-{BACKEND}.png"), full_page=True)

    page.select_option("#trigger-type", "interval")
    page.fill("input[name='interval:minutes']", "0")
    page.click("#save-button")
    expect(trigger_error).to_contain_text("interval must be greater than zero")

    page.fill("input[name='interval:minutes']", "15")
    page.fill("#job-id", "has spaces")
    page.click("#save-button")
    expect(page.locator('[data-error-for="id"]')).to_contain_text("pattern")
    expect(trigger_error).to_have_text("")
    expect(page.locator('[data-error-for="trigger.cron.expression"]')).to_have_text("")
    expect(page.locator("#preview-list li")).to_have_count(5)

    for job_id in ("half_baked", "has spaces"):
        assert live_server.api("GET", f"/tasks/{job_id}").status_code == 404
    assert live_server.api("GET", "/tasks").json()["total"] == 4


def test_create_and_edit_a_job_with_the_form(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, live_server, "#/new")
    page.fill("#job-id", "nightly_report")
    page.fill("#job-name", "Nightly report")
    page.select_option("#task-select", "test_record")
    expect(page.locator("#task-description")).to_contain_text("Append a line")
    page.fill("input[name='param:path']", str(tmp_path / "report.txt"))
    page.fill("#cron-expression", "0 3 * * *")
    page.select_option("#overlap-select", "buffer_one")
    page.fill("input[name=catchup_window_seconds]", "600")
    page.fill("input[name=reason]", "asked for by finance")
    page.click("#save-button")

    page.wait_for_url("**/dashboard#/jobs/nightly_report")
    expect(page.locator("#job-title")).to_have_text("Nightly report")
    expect(page.locator("#job-schedule")).to_have_text("every day at 03:00 UTC")
    expect(page.locator("#job-overlap")).to_have_text("buffer_one: one at a time")
    expect(page.locator("#job-catchup-window")).to_contain_text("10")
    created = live_server.api("GET", "/tasks/nightly_report").json()
    assert created["params"] == {"path": str(tmp_path / "report.txt")}
    assert created["overlap"] == "buffer_one"
    assert created["catchup_window_seconds"] == 600

    page.click("#job-header [data-action=edit]")
    expect(page.locator("#job-name")).to_have_value("Nightly report")
    expect(page.locator("#overlap-select")).to_have_value("buffer_one")
    expect(page.locator("#preview-list li")).to_have_count(5)
    page.fill("#job-name", "Nightly finance report")
    page.click("#save-button")
    page.wait_for_url("**/dashboard#/jobs/nightly_report")
    expect(page.locator("#job-title")).to_have_text("Nightly finance report")

    edited = live_server.api("GET", "/tasks/nightly_report").json()
    # Only what changed was sent: the schedule did not move.
    assert edited["next_run_time"] == created["next_run_time"]
    assert edited["trigger"] == created["trigger"]
    entries = page.locator("#audit-table .audit-entry")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("modify")
    expect(entries.nth(0)).to_contain_text('name: "Nightly report" → "Nightly finance report"')
    expect(entries.nth(1)).to_contain_text("asked for by finance")


def test_an_expired_access_token_is_renewed_once(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    expect(page.locator("#jobs-table tbody tr[data-job-id]")).to_have_count(4)
    refresh_token = page.evaluate("sessionStorage.getItem('refresh_token')")
    # As if it had expired: the job page then makes five requests that all answer 401.
    page.evaluate("sessionStorage.setItem('access_token', 'expired')")
    page.goto(f"{live_server.url}/dashboard#/jobs/cleanup_tokens")
    expect(page.locator("#job-title")).to_have_text("Clean up expired tokens")
    expect(page.locator("#audit")).to_contain_text("No changes recorded.")
    renewed = page.evaluate("sessionStorage.getItem('refresh_token')")
    assert renewed != refresh_token
    # Had two requests presented the old refresh token, the second would have revoked
    # the whole family, and this one would be refused too.
    response = live_server.api("POST", "/auth/refresh", json={"refresh_token": renewed})
    assert response.status_code == 200, response.text


def test_delete_asks_for_confirmation(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    created = live_server.api(
        "POST",
        "/tasks",
        json={
            "id": "short_lived",
            "task": "test_record",
            "params": {"path": str(tmp_path / "s")},
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert created.status_code == 201, created.text
    sign_in(page, live_server)
    expect(job_row(page, "cleanup_tokens").locator("[data-action=delete]")).to_be_disabled()
    row = job_row(page, "short_lived")
    page.fill("#reason", "no longer needed")
    row.locator("[data-action=delete]").click()
    assert live_server.api("GET", "/tasks/short_lived").status_code == 200
    row.locator("[data-action=confirm-delete]").click()
    expect(job_row(page, "short_lived")).to_have_count(0)
    assert live_server.api("GET", "/tasks/short_lived").status_code == 404
    [entry, *_] = live_server.api("GET", "/tasks/short_lived/audit").json()["items"]
    assert (entry["action"], entry["actor_email"], entry["reason"]) == (
        "delete",
        "admin@example.com",
        "no longer needed",
    )


def test_a_password_reset_through_the_reset_page(page: Page, live_server: LiveServer) -> None:
    requested = live_server.api(
        "POST", "/auth/password-reset/request", json={"email": "admin@example.com"}
    )
    assert requested.status_code == 202, requested.text
    mailer = live_server.app.state.mailer
    assert isinstance(mailer, ConsoleEmailSender)
    link = re.search(r"/reset-password\?token=[A-Za-z0-9_\-]+", mailer.outbox[-1].body)
    assert link, mailer.outbox[-1].body

    page.goto(live_server.url + link.group(0))
    # The token leaves the address bar at once.
    expect(page).to_have_url(f"{live_server.url}/reset-password")
    expect(page.locator("input[name=token]")).to_be_hidden()
    page.fill("input[name=new_password]", "short")
    page.fill("input[name=repeat_password]", "short")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#new-password-error")).to_have_text("Use at least 8 characters.")
    page.fill("input[name=new_password]", "a-brand-new-passphrase")
    page.fill("input[name=repeat_password]", "a-brand-new-passphras")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#repeat-password-error")).to_have_text("The two passwords differ.")
    page.fill("input[name=repeat_password]", "a-brand-new-passphrase")
    page.click("#reset-form button[type=submit]")

    expect(page.locator("#reset-done")).to_be_visible()
    expect(page.locator("#reset-form")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"reset-password-{BACKEND}.png"), full_page=True)
    login = live_server.api(
        "POST",
        "/auth/login",
        data={"username": "admin@example.com", "password": "a-brand-new-passphrase"},
    )
    assert login.status_code == 200, login.text

    # The link works once.
    page.goto(live_server.url + link.group(0))
    page.fill("input[name=new_password]", "yet-another-passphrase")
    page.fill("input[name=repeat_password]", "yet-another-passphrase")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#token-error")).to_contain_text("invalid, used or expired")
    expect(page.locator("input[name=token]")).to_be_visible()


# --- what each role is offered -------------------------------------------------------

JOB_ACTIONS = ("pause", "run", "edit", "delete")


def offered(scope: Locator) -> set[str]:
    return {a for a in JOB_ACTIONS if scope.locator(f"[data-action={a}]").count()}


def expect_shown(locator: Locator, shown: bool) -> None:
    if shown:
        expect(locator).to_be_visible()
    else:
        expect(locator).to_be_hidden()


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        ("viewer", set()),
        ("operator", {"pause", "run"}),
        ("admin", {"pause", "run", "edit", "delete"}),
    ],
)
def test_each_role_is_offered_only_what_it_may_do(
    page: Page, live_server: LiveServer, role: str, actions: set[str]
) -> None:
    sign_in(page, live_server, email=make_user(live_server, role))
    expect(page.locator("#who-role")).to_have_text(role)
    row = job_row(page, "cleanup_tokens")
    expect(row.locator(".state")).to_have_text("active")
    assert offered(row) == actions
    may_create = role == "admin"
    expect_shown(page.locator("#nav-new"), may_create)
    assert page.locator("#main a[href='#/new']").count() == (1 if may_create else 0)
    expect_shown(page.locator("#reason"), role != "viewer")

    row.locator("a.job-name").click()
    header = page.locator("#job-header")
    expect(page.locator("#job-title")).to_have_text("Clean up expired tokens")
    assert offered(header) == actions
    expect_shown(page.locator("#job-backfill"), role != "viewer")
    # Only admins reach the form; the others are sent back to the job.
    page.goto(f"{live_server.url}/dashboard#/jobs/cleanup_tokens/edit")
    if may_create:
        expect(page.locator("#save-button")).to_be_visible()
    else:
        expect(page.locator("#job-title")).to_have_text("Clean up expired tokens")
        expect(page.locator("#save-button")).to_have_count(0)


def test_an_operator_pauses_from_the_dashboard(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, email=make_user(live_server, "operator"))
    page.fill("#reason", "quiet hours")
    job_row(page, "cleanup_sessions").locator("[data-action=pause]").click()
    expect(job_row(page, "cleanup_sessions").locator(".state")).to_have_text("paused")
    [entry, *_] = live_server.api("GET", "/tasks/cleanup_sessions/audit").json()["items"]
    assert (entry["action"], entry["actor_email"], entry["reason"]) == (
        "pause",
        "operator.user@example.com",
        "quiet hours",
    )


def test_a_bot_owner_is_told_the_dashboard_is_not_for_them(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, email=make_user(live_server, None))
    expect(page.locator("#main .error")).to_contain_text("this account has none")
    expect(page.locator("#jobs-table")).to_have_count(0)
    expect(page.locator("#topnav")).to_be_hidden()


def test_a_bot_job_page_shows_its_last_scrape_sessions(page: Page, live_server: LiveServer) -> None:
    bot = live_server.api(
        "POST",
        "/bot-configs",
        json={"name": "watcher", "subreddits": ["python"], "auto_scrape_enabled": True},
    ).json()
    started = live_server.api("POST", f"/bot-configs/{bot['id']}/scrape").json()
    # No Reddit app is configured here: the session fails at once, with its reason.
    wait_until(
        lambda: (
            live_server.api("GET", f"/scrape-sessions/{started['session_id']}").json()["status"]
            == "failed"
        )
    )
    sign_in(page, live_server, f"#/jobs/bot_scraping_{bot['id']}")
    rows = page.locator("#bot-sessions-table tr.scrape-session")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"#{started['session_id']}")
    expect(rows.first).to_contain_text("failed")
    expect(rows.first).to_contain_text("manual")
    expect(rows.first).to_contain_text("No Reddit app is configured for scraping")


def test_other_jobs_show_no_scrape_sessions(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "#/jobs/cleanup_tokens")
    expect(page.locator("#job-title")).to_have_text("Clean up expired tokens")
    expect(page.locator("#bot-sessions")).to_be_hidden()
