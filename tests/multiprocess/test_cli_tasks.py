"""`reddit-bot tasks` against a real server process: reads, writes with a reason that
the audit log keeps, export and import into a fresh database, and the exit codes
scripts rely on (0 done, 1 refused, 2 bad usage)."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from tests.conftest import _empty_all_tables, free_port, wait_until
from tests.multiprocess.conftest import Cluster, Node

runner = CliRunner()


def tasks(node: Node | None, key: str | None, *args: str, stdin: str | None = None) -> Result:
    env = {"REDDIT_BOT_URL": node.url if node else "", "REDDIT_BOT_API_KEY": key or ""}
    return runner.invoke(cli, ["tasks", *args], env=env, input=stdin)


def make_key(node: Node, role: str) -> str:
    response = node.request("POST", "/api/v1/api-keys", json={"name": f"{role} cli", "role": role})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def create(node: Node, job_id: str, tmp: Path, **fields: Any) -> None:
    body = {
        "id": job_id,
        "task": "test_record",
        "params": {"path": str(tmp / f"{job_id}.log")},
        "trigger": {"type": "interval", "hours": 1},
        **fields,
    }
    response = node.request("POST", "/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text


def job(node: Node, job_id: str) -> dict[str, Any]:
    response = node.request("GET", f"/api/v1/tasks/{job_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture
def server(cluster: Cluster) -> Node:
    [node] = cluster.start(1)
    cluster.leader()
    return node


@pytest.fixture
def admin_key(server: Node) -> str:
    return make_key(server, "admin")


def test_list_and_show_as_tables_and_as_json(server: Node, admin_key: str, tmp_path: Path) -> None:
    create(server, "nightly", tmp_path, name="Nightly")
    create(server, "held", tmp_path, paused=True)

    listed = tasks(server, admin_key, "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:2] == ["ID", "TASK"]
    by_id = {row.split()[0]: row for row in rows}
    assert "test_record" in by_id["nightly"]
    assert "every hour" in by_id["nightly"]
    assert "paused" in by_id["held"]
    assert "cleanup_tokens" in by_id

    as_json = tasks(server, admin_key, "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    jobs = {j["id"]: j for j in json.loads(as_json.stdout)}
    assert jobs["held"]["paused"] is True
    assert jobs["nightly"]["name"] == "Nightly"

    shown = tasks(server, admin_key, "show", "nightly")
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if " " in line)
    assert fields["id"].strip() == "nightly"
    assert fields["state"].strip() == "active"
    assert json.loads(tasks(server, admin_key, "show", "held", "--json").stdout)["paused"] is True


def test_pause_resume_run_and_history(server: Node, tmp_path: Path) -> None:
    key = make_key(server, "operator")
    create(server, "nightly", tmp_path)

    paused = tasks(server, key, "pause", "nightly", "--reason", "database maintenance")
    assert paused.exit_code == 0, paused.output
    assert paused.stdout.strip() == "nightly: paused"
    assert job(server, "nightly")["paused"] is True
    audit = server.request("GET", "/api/v1/tasks/nightly/audit").json()["items"]
    assert audit[0]["action"] == "pause"
    assert audit[0]["reason"] == "database maintenance"
    assert audit[0]["api_key_name"] == "operator cli"

    resumed = tasks(server, key, "resume", "nightly", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "resumed"
    assert job(server, "nightly")["paused"] is False

    ran = tasks(server, key, "run", "nightly", "--reason", "check", "--json")
    assert ran.exit_code == 0, ran.output
    execution_id = json.loads(ran.stdout)["execution_id"]
    assert server.request("GET", "/api/v1/tasks/nightly/audit").json()["items"][0]["reason"] == (
        "check"
    )

    def finished() -> list[dict[str, Any]] | None:
        result = tasks(server, key, "history", "nightly", "--json")
        assert result.exit_code == 0, result.output
        runs: list[dict[str, Any]] = json.loads(result.stdout)
        return runs if runs and runs[0]["status"] != "running" else None

    [run] = wait_until(finished, timeout=30)
    assert run["id"] == execution_id
    assert run["trigger"] == "manual"
    assert run["status"] == "success"
    table = tasks(server, key, "history", "nightly")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "TRIGGER"]
    assert row.split()[:3] == [str(execution_id), "success", "manual"]


def test_refusals_exit_1_with_the_servers_message(
    server: Node, admin_key: str, tmp_path: Path
) -> None:
    viewer = make_key(server, "viewer")
    create(server, "nightly", tmp_path)

    missing = tasks(server, admin_key, "show", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: 404 Job 'nope' not found"

    refused = tasks(server, viewer, "pause", "nightly", "--reason", "x")
    assert refused.exit_code == 1
    assert "403 This needs the operator role or higher" in refused.stderr
    assert job(server, "nightly")["paused"] is False

    bad_reason = tasks(server, admin_key, "pause", "nightly", "--reason", "")
    assert bad_reason.exit_code == 1
    assert "reason" in bad_reason.stderr
    assert job(server, "nightly")["paused"] is False

    wrong_key = tasks(server, "rbk_" + "A" * 43, "list")
    assert wrong_key.exit_code == 1
    assert wrong_key.stderr.startswith("error: 401")

    unreachable = runner.invoke(
        cli,
        ["tasks", "list", "--url", f"http://127.0.0.1:{free_port()}"],
        env={"REDDIT_BOT_API_KEY": admin_key},
    )
    assert unreachable.exit_code == 1
    assert "cannot reach" in unreachable.stderr


def test_bad_usage_exits_2(server: Node, admin_key: str, tmp_path: Path) -> None:
    no_key = tasks(server, None, "list")
    assert no_key.exit_code == 2
    assert "REDDIT_BOT_API_KEY" in no_key.stderr
    assert tasks(server, admin_key, "show").exit_code == 2
    assert tasks(server, admin_key, "history", "x", "--limit", "0").exit_code == 2
    assert tasks(server, admin_key, "import", str(tmp_path / "missing.json")).exit_code == 2
    assert tasks(server, admin_key, "no-such-command").exit_code == 2
    not_json = tmp_path / "jobs.json"
    not_json.write_text("{not json")
    assert tasks(server, admin_key, "import", str(not_json)).exit_code == 2
    wrong_mode = tasks(server, admin_key, "import", str(not_json), "--mode", "merge")
    assert wrong_mode.exit_code == 2
    # Options come from the flags as well as the environment.
    flags = runner.invoke(
        cli, ["tasks", "list", "--json", "--url", server.url, "--api-key", admin_key], env={}
    )
    assert flags.exit_code == 0, flags.output


def test_export_then_import_into_a_fresh_database(
    cluster: Cluster, server: Node, admin_key: str, database_url: str, tmp_path: Path
) -> None:
    create(server, "nightly", tmp_path, name="Nightly")
    create(
        server,
        "weekly",
        tmp_path,
        trigger={"type": "cron", "expression": "0 3 * * sun", "timezone": "Europe/Berlin"},
    )
    create(server, "held", tmp_path, paused=True)
    exported = tmp_path / "jobs.json"
    written = tasks(server, admin_key, "export", "-o", str(exported))
    assert written.exit_code == 0, written.output
    before = json.loads(exported.read_text())["jobs"]
    assert tasks(server, admin_key, "export").stdout.strip() == exported.read_text().strip()

    server.process.send_signal(signal.SIGTERM)
    server.process.wait(30)
    _empty_all_tables(database_url)
    [fresh] = cluster.start(1)
    cluster.leader()
    key = make_key(fresh, "admin")
    assert "nightly" not in tasks(fresh, key, "list").stdout

    imported = tasks(
        fresh, key, "import", str(exported), "--mode", "upsert", "--reason", "new database"
    )
    assert imported.exit_code == 0, imported.output
    builtin = sum(j["id"].startswith("cleanup_") for j in before)
    assert imported.stdout.strip() == (
        f"{len(before) - builtin} jobs were created, {builtin} were replaced"
    )
    after = json.loads(tasks(fresh, key, "export").stdout)["jobs"]
    assert after == before
    audit = fresh.request("GET", "/api/v1/tasks/weekly/audit").json()["items"]
    assert [(e["action"], e["reason"]) for e in audit] == [("create", "new database")]


def test_a_refused_import_names_the_job_and_imports_nothing(
    server: Node, admin_key: str, tmp_path: Path
) -> None:
    operator = make_key(server, "operator")
    good = {
        "id": "fine",
        "task": "test_sleep",
        "params": {"seconds": 1},
        "trigger": {"type": "interval", "hours": 1},
    }
    bad = {**good, "id": "broken", "trigger": {"type": "cron", "expression": "99 * * * *"}}
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([good, bad]))

    refused = tasks(server, admin_key, "import", str(jobs))
    assert refused.exit_code == 1
    assert "422" in refused.stderr
    assert "jobs[1].trigger" in refused.stderr
    assert "(job broken)" in refused.stderr
    assert server.request("GET", "/api/v1/tasks/fine").status_code == 404

    not_admin = tasks(server, operator, "import", "-", stdin=json.dumps([good]))
    assert not_admin.exit_code == 1
    assert "403 This needs the admin role or higher" in not_admin.stderr

    dry = tasks(server, admin_key, "import", "-", "--dry-run", stdin=json.dumps({"jobs": [good]}))
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.strip() == "1 jobs would be created, 0 would be replaced"
    assert server.request("GET", "/api/v1/tasks/fine").status_code == 404

    done = tasks(server, admin_key, "import", "-", "--json", stdin=json.dumps([good]))
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "mode": "create",
        "dry_run": False,
        "created": 1,
        "updated": 0,
    }
    assert job(server, "fine")["task"] == "test_sleep"


def test_resume_with_catch_up_runs_the_latest_slot_missed_while_paused(
    server: Node, tmp_path: Path
) -> None:
    key = make_key(server, "operator")
    create(server, "frequent", tmp_path, trigger={"type": "interval", "seconds": 1}, paused=True)
    # Paused through a few slots.
    time.sleep(2.5)
    resumed_at = datetime.now(UTC)
    resumed = tasks(server, key, "resume", "frequent", "--catch-up")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.strip() == "frequent: resumed, catching up 1 missed slot(s)"

    def caught_up() -> list[dict[str, Any]]:
        runs = server.request("GET", "/api/v1/tasks/frequent/executions").json()
        return [
            r
            for r in runs
            if r["status"] == "success" and datetime.fromisoformat(r["scheduled_at"]) < resumed_at
        ]

    [run] = wait_until(caught_up, timeout=30)
    assert run["trigger"] == "scheduled"
    shown = tasks(server, key, "show", "frequent")
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if " " in line)
    assert fields["overlap"].strip() == "skip"
