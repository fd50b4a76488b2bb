"""The command protocol between API processes and the leader, without a database."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.errors import AppError, Conflict, Invalid, NotFound, ServiceUnavailable
from app.tasks import commands
from app.tasks.commands import AddJob, ModifyJob, PauseJob, RunJob, SyncJob
from app.tasks.jobs import CATALOG
from app.tasks.jobs.scraping import bot_job_spec, legacy_sync_bot
from app.tasks.trigger_specs import IntervalSpec


def round_trip(command: commands.Command) -> commands.Command:
    action, job_id, payload = commands.encode(command)
    return commands.decode(action, job_id, payload, CATALOG.legacy_commands)


@pytest.mark.parametrize(
    "command",
    [
        AddJob(job_id="a", id="a", task="t", trigger=IntervalSpec(seconds=5), paused=True),
        ModifyJob(job_id="a", name="renamed"),
        ModifyJob(job_id="a", timeout_seconds=None),
        PauseJob(job_id="a"),
        RunJob(job_id="a"),
        SyncJob(job_id="bot_scraping_3", spec=bot_job_spec(3, 2)),
        SyncJob(job_id="bot_scraping_3", spec=None),
    ],
)
def test_every_command_survives_the_row(command: commands.Command) -> None:
    decoded = round_trip(command)
    assert decoded == command
    if isinstance(command, ModifyJob):
        assert isinstance(decoded, ModifyJob)
        changed = decoded.model_fields_set - {"action", "job_id"}
        assert changed == command.model_fields_set - {"action", "job_id"}


def test_a_change_carries_only_the_fields_it_sets() -> None:
    action, job_id, payload = commands.encode(ModifyJob(job_id="a", timeout_seconds=None))
    assert (action, job_id, payload) == ("modify", "a", {"timeout_seconds": None})


def test_the_rows_of_the_previous_release_still_decode() -> None:
    # As the previous release wrote them: its action names and payloads.
    add = commands.decode(
        "add",
        "a",
        {
            "id": "a",
            "name": None,
            "task": "t",
            "params": {},
            "trigger": {"type": "interval", "seconds": 5},
            "timeout_seconds": None,
            "max_instances": 1,
            "misfire_grace_time": None,
            "coalesce": True,
            "paused": False,
        },
    )
    assert isinstance(add, AddJob)
    assert add.spec().name == "a"
    assert commands.decode("pause", "a", {}) == PauseJob(job_id="a")
    sync = commands.decode(
        "sync_bot",
        "bot_scraping_4",
        {"bot_config_id": 4, "enabled": True, "interval_hours": 6},
        CATALOG.legacy_commands,
    )
    assert sync == SyncJob(job_id="bot_scraping_4", spec=bot_job_spec(4, 6))
    off = legacy_sync_bot("bot_scraping_4", {"bot_config_id": 4, "enabled": False})
    assert off == SyncJob(job_id="bot_scraping_4", spec=None)


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("explode", {}),
        ("add", {"id": "a", "task": "t", "trigger": {"type": "weekly"}}),
        ("add", {"id": "a", "task": "t"}),
        ("pause", {"unexpected": 1}),
    ],
)
def test_a_row_no_version_wrote_is_invalid(action: str, payload: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        commands.decode(action, "a", payload)


def test_an_unknown_action_is_named() -> None:
    with pytest.raises(Invalid) as caught:
        commands.decode("explode", "a", {})
    assert caught.value.detail == "unknown scheduler command 'explode'"


def test_a_malformed_legacy_row_is_invalid() -> None:
    with pytest.raises(Invalid):
        legacy_sync_bot("bot_scraping_x", {"enabled": True})


@pytest.mark.parametrize(
    "error",
    [
        NotFound("Job 'a' not found"),
        Conflict("already running"),
        Invalid("unknown task 'x'", field="task"),
        ServiceUnavailable("later"),
    ],
)
def test_errors_come_back_as_the_same_type(error: AppError) -> None:
    columns = commands.failure(error)
    again = commands.error_of(columns["error_status"], columns["error"], columns["result"])
    assert type(again) is type(error)
    assert again.detail == error.detail


def test_an_unexpected_status_keeps_its_code() -> None:
    again = commands.error_of(500, "The scheduler could not apply the change: boom", None)
    assert again.status_code == 500
    assert again.detail == "The scheduler could not apply the change: boom"
    assert commands.error_of(None, None, None).status_code == 500
