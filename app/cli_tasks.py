"""`reddit-bot tasks`: the task API from a shell, for operators and scripts.

It talks to a running server over HTTP (`REDDIT_BOT_URL`) with an API key
(`REDDIT_BOT_API_KEY`), so it works from any host that reaches the API and can do
exactly what the key's role may. Exit codes: 0 done, 1 refused (the server answered
4xx or 5xx, or could not be reached; its message goes to stderr), 2 bad usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import quote

import httpx
import typer

tasks_cli = typer.Typer(
    help="Jobs of a running server, through its HTTP API (needs an API key).",
    no_args_is_help=True,
)

# 0 done, 1 refused, 2 bad usage (click's own code for usage errors).
REFUSED = 1
BAD_USAGE = 2
TIMEOUT_SECONDS = 60.0
PAGE = 500

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="REDDIT_BOT_URL", help="The server's base URL", show_envvar=True),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="REDDIT_BOT_API_KEY",
        help="An API key (rbk_...)",
        show_envvar=True,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, for the audit log", show_default=False)
]
JobIdArgument = Annotated[str, typer.Argument(help="The job's id")]
DEFAULT_URL = "http://127.0.0.1:8000"


class Api:
    def __init__(self, url: str, api_key: str | None) -> None:
        if not api_key:
            _fail("no API key: set REDDIT_BOT_API_KEY or pass --api-key", BAD_USAGE)
        self.base = url.rstrip("/") + "/api/v1/tasks"
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def call(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        try:
            response = httpx.request(
                method,
                self.base + path,
                headers=self.headers,
                params=params,
                json=body,
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            _fail(f"cannot reach {self.base}: {exc}", REFUSED)
        if response.status_code >= 400:
            _fail(_message(response), REFUSED)
        return response.json() if response.content else None


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _where(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(response: httpx.Response) -> str:
    """The server's own words: its `detail`, one line per field error."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        lines = []
        for error in detail:
            job = f" (job {error['job_id']})" if error.get("job_id") else ""
            lines.append(f"{_where(error.get('loc', []))}{job}: {error.get('msg', '')}")
        return f"{response.status_code}\n" + "\n".join(lines)
    if detail is None:
        detail = response.text or response.reason_phrase
    return f"{response.status_code} {detail}"


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S%z")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _job_path(job_id: str) -> str:
    return "/" + quote(job_id, safe="")


@tasks_cli.command("list")
def list_jobs(
    url: UrlOption = DEFAULT_URL, api_key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every job: its task, schedule, next run and last outcome."""
    api = Api(url, api_key)
    jobs: list[dict[str, Any]] = []
    while True:
        page = api.call("GET", params={"limit": PAGE, "offset": len(jobs)})
        jobs += page["items"]
        if not page["items"] or len(jobs) >= page["total"]:
            break
    if as_json:
        _print_json(jobs)
        return
    _table(
        ["ID", "TASK", "SCHEDULE", "NEXT RUN", "STATE", "LAST"],
        [
            [
                job["id"],
                job.get("task") or "-",
                job.get("trigger_description") or job["trigger"],
                _when(job.get("next_run_time")),
                "paused" if job["paused"] else "active",
                job.get("last_status") or "-",
            ]
            for job in jobs
        ],
    )


@tasks_cli.command()
def show(
    job_id: JobIdArgument,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """One job."""
    job = Api(url, api_key).call("GET", _job_path(job_id))
    if as_json:
        _print_json(job)
        return
    fields = [
        ("id", job["id"]),
        ("name", job["name"]),
        ("task", job.get("task")),
        ("params", json.dumps(job.get("params") or {})),
        ("schedule", job.get("trigger_description") or job["trigger"]),
        ("trigger", json.dumps(job.get("trigger_spec"))),
        ("state", "paused" if job["paused"] else "active"),
        ("next run", _when(job.get("next_run_time"))),
        ("last run", f"{_when(job.get('last_run_at'))} {job.get('last_status') or ''}".strip()),
        ("success rate", f"{job['success_rate']}%" if job.get("success_rate") is not None else "-"),
        ("timeout", job.get("timeout_seconds") or "task default"),
        ("max instances", job.get("max_instances")),
        ("overlap", job.get("overlap")),
        ("catch-up window", _seconds(job.get("catchup_window_seconds"))),
        ("misfire grace", job.get("misfire_grace_time") or "none"),
        ("coalesce", job.get("coalesce")),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        typer.echo(f"{name.ljust(width)}  {value if value is not None else '-'}")


def _seconds(value: Any) -> str:
    return "none" if value is None else f"{value} s"


def _action(
    action: str,
    job_id: str,
    url: str,
    api_key: str | None,
    reason: str | None,
    as_json: bool,
    **extra: Any,
) -> None:
    body: dict[str, Any] | None = {"reason": reason} if reason is not None else None
    if extra:
        body = {**(body or {}), **extra}
    answer = Api(url, api_key).call("POST", f"{_job_path(job_id)}/{action}", body=body)
    if as_json:
        _print_json(answer)
        return
    execution = f" (execution {answer['execution_id']})" if answer.get("execution_id") else ""
    caught_up = answer.get("catch_up")
    catch_up = f", catching up {caught_up} missed slot(s)" if caught_up is not None else ""
    typer.echo(f"{answer['job_id']}: {answer['status']}{execution}{catch_up}")


@tasks_cli.command()
def pause(
    job_id: JobIdArgument,
    reason: ReasonOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pause a job: it does not run until resumed."""
    _action("pause", job_id, url, api_key, reason, as_json)


@tasks_cli.command()
def resume(
    job_id: JobIdArgument,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="Also run the slots missed while paused, per the job's catch-up window "
            "(without a window: the latest one, once)",
        ),
    ] = False,
    reason: ReasonOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resume a paused job from its next slot."""
    if catch_up:
        _action("resume", job_id, url, api_key, reason, as_json, catch_up=True)
    else:
        _action("resume", job_id, url, api_key, reason, as_json)


@tasks_cli.command()
def run(
    job_id: JobIdArgument,
    reason: ReasonOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a job now (its schedule does not move)."""
    _action("run", job_id, url, api_key, reason, as_json)


@tasks_cli.command()
def history(
    job_id: JobIdArgument,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many runs")] = 20,
    status: Annotated[
        str | None, typer.Option(help="Only runs with this status", show_default=False)
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A job's runs, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    runs = Api(url, api_key).call("GET", f"{_job_path(job_id)}/executions", params=params)
    if as_json:
        _print_json(runs)
        return
    _table(
        ["ID", "STATUS", "TRIGGER", "SCHEDULED", "STARTED", "SECONDS", "ERROR"],
        [
            [
                str(r["id"]),
                r["status"],
                r["trigger"],
                _when(r.get("scheduled_at")),
                _when(r.get("started_at")),
                f"{r['duration_seconds']:.3f}" if r.get("duration_seconds") is not None else "-",
                (r.get("error_message") or "")[:60],
            ]
            for r in runs
        ],
    )


@tasks_cli.command()
def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout", dir_okay=False),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Every job as JSON, as `tasks import` takes it."""
    exported = Api(url, api_key).call("GET", "/export")
    text = json.dumps(exported, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"{len(exported['jobs'])} jobs written to {output}", err=True)


@tasks_cli.command("import")
def import_jobs(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON: what `tasks export` wrote, or a list of jobs ('-': stdin)",
            allow_dash=True,
            dir_okay=False,
        ),
    ],
    mode: Annotated[
        Literal["create", "upsert"],
        typer.Option(help="create: every job must be new; upsert: replace those that exist"),
    ] = "create",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count, change nothing")
    ] = False,
    reason: ReasonOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import jobs: all of them, or none if any is refused."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}", BAD_USAGE)
    try:
        data = json.loads(text)
    except ValueError as exc:
        _fail(f"{file} is not JSON: {exc}", BAD_USAGE)
    jobs = data.get("jobs") if isinstance(data, dict) else data
    if not isinstance(jobs, list):
        _fail(f"{file} holds no list of jobs (a list, or an object with `jobs`)", BAD_USAGE)
    body: dict[str, Any] = {"jobs": jobs, "mode": mode, "dry_run": dry_run}
    if reason is not None:
        body["reason"] = reason
    answer = Api(url, api_key).call("POST", "/import", body=body)
    if as_json:
        _print_json(answer)
        return
    verb = "would be" if answer["dry_run"] else "were"
    typer.echo(f"{answer['created']} jobs {verb} created, {answer['updated']} {verb} replaced")
