"""What a trigger means, through the API: crontab's rules for days, names, steps and
macros, cron(8)'s for clock changes, bounds on every number and date, and stored
triggers of earlier versions."""

from __future__ import annotations

import itertools
import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim
from sqlalchemy import create_engine, text

from app.core.config import Settings
from app.tasks.triggers import AnchoredIntervalTrigger, CrontabTrigger
from tests.conftest import bearer, create_job, login, running_app


async def send(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    """JSON as a careless client sends it: NaN and Infinity included (httpx refuses
    to write them)."""
    return await client.request(
        method,
        path,
        headers={**headers, "content-type": "application/json"},
        content=json.dumps(body),
    )


async def preview(
    client: httpx.AsyncClient, headers: dict[str, str], trigger: dict[str, Any], count: int = 5
) -> httpx.Response:
    return await send(
        client, "POST", "/api/v1/tasks/preview", headers, {"trigger": trigger, "count": count}
    )


def utc(times: list[str]) -> list[str]:
    return [datetime.fromisoformat(t).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]


# (expression, zone, start_date, the fire times in UTC). Weekdays of 2027: January 1st is
# a Friday; Europe/Berlin changes clocks on March 28 and October 31 at 01:00 UTC,
# America/New_York on March 14 at 07:00 and November 7 at 06:00 UTC.
CASES = [
    # Both day fields restricted: either one (crontab(5)).
    pytest.param(
        "0 0 1 * 1",
        "UTC",
        "2027-03-02T00:00:00Z",
        ["2027-03-08", "2027-03-15", "2027-03-22", "2027-03-29", "2027-04-01", "2027-04-05"],
        id="first-or-monday",
    ),
    pytest.param(
        "0 0 1,15 * 5",
        "UTC",
        "2027-01-02T00:00:00Z",
        ["2027-01-08", "2027-01-15", "2027-01-22", "2027-01-29", "2027-02-01", "2027-02-05"],
        id="crontab5-example",
    ),
    pytest.param(
        "0 0 30 2 1",
        "UTC",
        "2027-01-02T00:00:00Z",
        ["2027-02-01", "2027-02-08", "2027-02-15", "2027-02-22", "2028-02-07"],
        id="february-30-or-monday",
    ),
    # A field starting with `*` does not restrict: days every other day of the month
    # that are Mondays.
    pytest.param(
        "0 0 */2 * 1",
        "UTC",
        "2027-01-02T00:00:00Z",
        ["2027-01-11", "2027-01-25", "2027-02-01", "2027-02-15"],
        id="star-step-is-unrestricted",
    ),
    # Spring: nothing lost after the jump.
    pytest.param(
        "0 0 * * *",
        "Europe/Berlin",
        "2027-03-28T12:00:00+02:00",
        ["2027-03-28T22:00:00Z", "2027-03-29T22:00:00Z"],
        id="berlin-midnight-after-spring",
    ),
    pytest.param(
        "0 0 1 * *",
        "Europe/Berlin",
        "2027-03-15T00:00:00Z",
        ["2027-03-31T22:00:00Z", "2027-04-30T22:00:00Z"],
        id="berlin-april-first",
    ),
    pytest.param(
        "0 0 1 * *",
        "America/New_York",
        "2027-03-15T00:00:00Z",
        ["2027-04-01T04:00:00Z", "2027-05-01T04:00:00Z"],
        id="new-york-april-first",
    ),
    # A fixed time in the spring gap runs once, just after the jump (03:00).
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        "2027-03-27T12:00:00Z",
        ["2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"],
        id="berlin-gap",
    ),
    # A fixed time in the repeated autumn hour runs once.
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        "2027-10-30T12:00:00Z",
        ["2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z", "2027-11-02T01:30:00Z"],
        id="berlin-repeated-hour",
    ),
    pytest.param(
        "30 1 * * *",
        "America/New_York",
        "2027-11-06T12:00:00Z",
        ["2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z", "2027-11-09T06:30:00Z"],
        id="new-york-repeated-hour",
    ),
    # A wildcard hour follows real time: both 02:30s, in order.
    pytest.param(
        "30 * * * *",
        "Europe/Berlin",
        "2027-10-30T22:00:00Z",
        [
            "2027-10-30T22:30:00Z",
            "2027-10-30T23:30:00Z",
            "2027-10-31T00:30:00Z",
            "2027-10-31T01:30:00Z",
            "2027-10-31T02:30:00Z",
        ],
        id="berlin-every-hour-autumn",
    ),
    pytest.param(
        "*/30 * * * *",
        "America/New_York",
        "2027-11-07T04:45:00Z",
        [
            "2027-11-07T05:00:00Z",
            "2027-11-07T05:30:00Z",
            "2027-11-07T06:00:00Z",
            "2027-11-07T06:30:00Z",
            "2027-11-07T07:00:00Z",
        ],
        id="new-york-half-hours-autumn",
    ),
    # Names and steps as crontab has them.
    pytest.param(
        "0 12 1 jan/3 *",
        "UTC",
        "2027-01-01T00:00:00Z",
        ["2027-01-01T12", "2027-04-01T12", "2027-07-01T12", "2027-10-01T12"],
        id="month-name-step",
    ),
    pytest.param(
        "0 12 1 jan-dec/3 *",
        "UTC",
        "2027-01-01T00:00:00Z",
        ["2027-01-01T12", "2027-04-01T12", "2027-07-01T12", "2027-10-01T12"],
        id="month-name-range-step",
    ),
    pytest.param(
        "0 0 * * sun-tue",
        "UTC",
        "2027-01-04T00:00:00Z",
        ["2027-01-04", "2027-01-05", "2027-01-10", "2027-01-11"],
        id="weekdays-from-sunday",
    ),
    pytest.param(
        "0 0 * * SUN-THU",
        "UTC",
        "2027-01-07T00:00:00Z",
        ["2027-01-07", "2027-01-10", "2027-01-11"],
        id="weekday-names-upper-case",
    ),
    pytest.param(
        "*/60 * * * *",
        "UTC",
        "2027-01-01T00:00:30Z",
        ["2027-01-01T01", "2027-01-01T02"],
        id="step-longer-than-its-range",
    ),
    pytest.param(
        "0 8-9/2 * * *",
        "UTC",
        "2027-01-01T00:00:00Z",
        ["2027-01-01T08", "2027-01-02T08"],
        id="step-longer-than-its-range-takes-the-first",
    ),
    pytest.param("0 0 * * 7", "UTC", "2027-01-01T00:00:00Z", ["2027-01-03"], id="seven-is-sunday"),
    pytest.param("@yearly", "UTC", "2027-01-01T01:00:00Z", ["2028-01-01"], id="yearly"),
    pytest.param("@annually", "UTC", "2027-01-01T01:00:00Z", ["2028-01-01"], id="annually"),
    pytest.param("@monthly", "UTC", "2027-01-01T01:00:00Z", ["2027-02-01"], id="monthly"),
    pytest.param("@weekly", "UTC", "2027-01-01T01:00:00Z", ["2027-01-03"], id="weekly"),
    pytest.param("@daily", "UTC", "2027-01-01T01:00:00Z", ["2027-01-02"], id="daily"),
    pytest.param("@midnight", "UTC", "2027-01-01T01:00:00Z", ["2027-01-02"], id="midnight"),
    pytest.param(
        "@hourly", "UTC", "2027-01-01T01:30:00Z", ["2027-01-01T02", "2027-01-01T03"], id="hourly"
    ),
    # Six fields, seconds first; cron(8)'s rule for a fixed time holds for them too.
    pytest.param(
        "15 30 2 * * *",
        "Europe/Berlin",
        "2027-03-27T12:00:00Z",
        ["2027-03-28T01:00:15Z", "2027-03-29T00:30:15Z"],
        id="six-fields-gap",
    ),
]


def full(instant: str) -> str:
    """`2027-03-08` and `2027-01-01T12` as whole UTC instants."""
    if len(instant) == len("2027-03-08"):
        instant += "T00"
    if len(instant) == len("2027-03-08T00"):
        instant += ":00:00Z"
    return instant


@pytest.mark.parametrize(("expression", "zone", "start", "expected"), CASES)
async def test_fire_times(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    expression: str,
    zone: str,
    start: str,
    expected: list[str],
) -> None:
    trigger = {"type": "cron", "expression": expression, "timezone": zone, "start_date": start}
    response = await preview(client, admin_headers, trigger, count=len(expected))
    assert response.status_code == 200, response.text
    times = response.json()["next_fire_times"]
    assert utc(times) == [full(t) for t in expected]
    instants = [datetime.fromisoformat(t) for t in times]
    assert instants == sorted(set(instants))


async def test_preview_never_goes_back_in_a_repeated_hour(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    trigger = {
        "type": "cron",
        "expression": "30 * * * *",
        "timezone": "Europe/Berlin",
        "start_date": "2027-10-30T00:00:00Z",
    }
    response = await preview(client, admin_headers, trigger, count=100)
    assert response.status_code == 200, response.text
    instants = [datetime.fromisoformat(t) for t in response.json()["next_fire_times"]]
    # One run per real hour, 100 different ones.
    assert [b - a for a, b in itertools.pairwise(instants)] == [timedelta(hours=1)] * 99


async def test_the_fields_form_numbers_weekdays_as_crontab(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    start = "2027-01-01T00:00:00Z"
    fields = await preview(
        client,
        admin_headers,
        {"type": "cron", "day_of_week": "1-5", "hour": 9, "start_date": start},
        count=10,
    )
    expression = await preview(
        client,
        admin_headers,
        {"type": "cron", "expression": "0 9 * * 1-5", "start_date": start},
        count=10,
    )
    assert fields.status_code == expression.status_code == 200
    assert fields.json()["next_fire_times"] == expression.json()["next_fire_times"]
    days = {datetime.fromisoformat(t).strftime("%a") for t in fields.json()["next_fire_times"]}
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    sunday = await preview(
        client, admin_headers, {"type": "cron", "day_of_week": 0, "hour": 9, "start_date": start}
    )
    assert {datetime.fromisoformat(t).strftime("%a") for t in sunday.json()["next_fire_times"]} == {
        "Sun"
    }
    either = await preview(
        client,
        admin_headers,
        {"type": "cron", "day": 1, "day_of_week": "mon", "hour": 0, "start_date": start},
        count=3,
    )
    assert utc(either.json()["next_fire_times"]) == [
        "2027-01-01T00:00:00Z",
        "2027-01-04T00:00:00Z",
        "2027-01-11T00:00:00Z",
    ]


@pytest.mark.parametrize(
    ("job_id", "expression", "start"),
    [
        ("midnight", "0 0 * * *", "2027-03-28T12:00:00+02:00"),
        ("first", "0 0 1 * *", "2027-03-15T00:00:00+01:00"),
        ("in_the_gap", "30 2 * * *", "2027-03-27T12:00:00+01:00"),
    ],
)
async def test_a_jobs_next_run_across_the_spring_change_is_cronsims(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    tmp_path: Path,
    job_id: str,
    expression: str,
    start: str,
) -> None:
    job = await create_job(
        client,
        admin_headers,
        id=job_id,
        task="test_record",
        params={"path": str(tmp_path / job_id)},
        trigger={
            "type": "cron",
            "expression": expression,
            "timezone": "Europe/Berlin",
            "start_date": start,
        },
    )
    zone = ZoneInfo("Europe/Berlin")
    expected = next(CronSim(expression, datetime.fromisoformat(start).astimezone(zone)))
    assert datetime.fromisoformat(job["next_run_time"]) == expected, job_id


# --- refused ------------------------------------------------------------------------------

BAD_TRIGGERS = [
    pytest.param({"type": "cron", "expression": "0 0 * * mon-wed-fri"}, "expression", id="range3"),
    pytest.param({"type": "cron", "expression": "0 0 * * mon-"}, "expression", id="open-range"),
    pytest.param({"type": "cron", "expression": "0 0 1 jan5 *"}, "expression", id="name-digit"),
    pytest.param({"type": "cron", "expression": "\u0661 * * * *"}, "expression", id="arabic"),
    pytest.param({"type": "cron", "expression": "\uff15 * * * *"}, "expression", id="fullwidth"),
    pytest.param({"type": "cron", "expression": "0 0 31 2 *"}, "expression", id="never"),
    pytest.param({"type": "cron", "expression": "@reboot"}, "expression", id="reboot"),
    pytest.param({"type": "cron", "expression": "0 0 L * *"}, "expression", id="quartz-last"),
    pytest.param({"type": "cron", "day_of_week": "mon-wed-fri"}, "day_of_week", id="field-range3"),
    pytest.param({"type": "cron", "hour": 24}, "hour", id="field-hour-24"),
    pytest.param({"type": "cron", "day": 31, "month": 2, "jitter": 5}, "day", id="field-never"),
    pytest.param({"type": "cron", "hour": True}, "hour", id="field-boolean"),
    pytest.param({"type": "cron", "year": "2028"}, "year", id="no-year-field"),
    pytest.param({"type": "interval", "weeks": 1_000_000_000}, "weeks", id="weeks"),
    pytest.param({"type": "interval", "days": 10**12}, "days", id="days"),
    pytest.param({"type": "interval", "seconds": 1e300}, "seconds", id="seconds"),
    pytest.param({"type": "interval", "seconds": float("nan")}, "seconds", id="nan"),
    pytest.param({"type": "interval", "seconds": float("inf")}, "seconds", id="infinity"),
    pytest.param({"type": "interval", "hours": float("-inf")}, "hours", id="minus-infinity"),
    pytest.param({"type": "interval", "weeks": 500, "days": 500}, "interval", id="too-long"),
    pytest.param({"type": "interval", "hours": 1, "jitter": 1e30}, "jitter", id="jitter-huge"),
    pytest.param(
        {"type": "interval", "hours": 1, "jitter": float("nan")}, "jitter", id="jitter-nan"
    ),
    pytest.param(
        {"type": "interval", "minutes": 10, "jitter": 601}, "jitter", id="jitter-over-interval"
    ),
    pytest.param(
        {"type": "cron", "expression": "0 * * * *", "jitter": 3601}, "jitter", id="jitter-over-gap"
    ),
    # In Berlin the 01:30 and 02:30 runs are 30 real minutes apart on the spring day.
    pytest.param(
        {
            "type": "cron",
            "expression": "30 1,2 * * *",
            "timezone": "Europe/Berlin",
            "jitter": 1801,
        },
        "jitter",
        id="jitter-over-gap-at-a-clock-change",
    ),
    pytest.param(
        {"type": "cron", "hour": 3, "start_date": "9999-12-31T23:59:59Z"},
        "start_date",
        id="start-far",
    ),
    pytest.param(
        {"type": "cron", "hour": 3, "end_date": "0001-01-01T00:00:00+14:00"},
        "end_date",
        id="end-before-year-one",
    ),
    pytest.param(
        {"type": "date", "run_date": "9999-12-31T23:59:59-14:00"}, "run_date", id="run-date-far"
    ),
    pytest.param({"type": "date", "run_date": "2027-01-01T00:00:00Z", "jitter": 5}, "jitter"),
]


def names(response: httpx.Response, field: str) -> bool:
    return any(
        field in map(str, error["loc"]) or field in error["msg"]
        for error in response.json()["detail"]
    )


@pytest.mark.parametrize(("trigger", "field"), BAD_TRIGGERS)
async def test_bad_trigger_is_422_naming_the_field_everywhere_and_stores_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    tmp_path: Path,
    trigger: dict[str, Any],
    field: str,
) -> None:
    await create_job(
        client,
        admin_headers,
        id="existing",
        task="test_record",
        params={"path": str(tmp_path / "e")},
        trigger={"type": "interval", "hours": 1},
    )
    before = (await client.get("/api/v1/tasks", headers=admin_headers)).json()

    previewed = await preview(client, admin_headers, trigger)
    created = await send(
        client,
        "POST",
        "/api/v1/tasks",
        admin_headers,
        {
            "id": "candidate",
            "task": "test_record",
            "params": {"path": str(tmp_path / "c")},
            "trigger": trigger,
        },
    )
    patched = await send(
        client, "PATCH", "/api/v1/tasks/existing", admin_headers, {"trigger": trigger}
    )
    for response in (previewed, created, patched):
        assert response.status_code == 422, response.text
        assert names(response, field), response.text
    assert (await client.get("/api/v1/tasks", headers=admin_headers)).json() == before


@pytest.mark.parametrize(
    "trigger",
    [
        pytest.param({"type": "interval", "minutes": 10, "jitter": 600}, id="interval"),
        pytest.param({"type": "cron", "expression": "0 * * * *", "jitter": 3600}, id="cron"),
        pytest.param(
            {
                "type": "cron",
                "expression": "30 1,2 * * *",
                "timezone": "Europe/Berlin",
                "jitter": 1800,
            },
            id="cron-at-a-clock-change",
        ),
    ],
)
async def test_jitter_up_to_the_gap_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], trigger: dict[str, Any]
) -> None:
    response = await preview(client, admin_headers, trigger)
    assert response.status_code == 200, (trigger, response.text)


# --- stored by earlier versions -----------------------------------------------------------


def store_job(url: str, job_id: str, trigger: Any, next_run: datetime) -> None:
    """A job as the code before `CrontabTrigger` stored it."""
    engine = create_engine(url)
    store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
    scheduler = BackgroundScheduler(timezone=UTC)
    try:
        store.start(scheduler, "default")
        store.add_job(
            Job(
                scheduler,
                id=job_id,
                func="app.tasks.runner:run",
                trigger=trigger,
                executor="default",
                args=(),
                kwargs={"task": "test_record", "params": {"path": "/dev/null"}},
                name=job_id,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
                next_run_time=next_run,
            )
        )
    finally:
        engine.dispose()


def stored_trigger(url: str, job_id: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            state = connection.execute(
                text("SELECT job_state FROM apscheduler_jobs WHERE id = :id"), {"id": job_id}
            ).scalar_one()
    finally:
        engine.dispose()
    return pickle.loads(state)["trigger"]


async def test_stored_apscheduler_triggers_keep_their_meaning(settings: Settings) -> None:
    url = settings.sync_database_url
    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    # APScheduler numbers weekdays from Monday = 0: this is Monday to Friday.
    store_job(url, "old_weekdays", CronTrigger(day_of_week="0-4", hour=9, timezone=UTC), later)
    # Both day fields: APScheduler wants both, which crontab cannot say.
    store_job(
        url,
        "old_both_days",
        CronTrigger(day=1, day_of_week="mon", hour=0, timezone=UTC),
        later,
    )
    store_job(url, "old_interval", IntervalTrigger(hours=2, timezone=UTC), later)

    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        jobs = {
            j["id"]: j for j in (await client.get("/api/v1/tasks", headers=headers)).json()["items"]
        }
        weekdays = jobs["old_weekdays"]
        assert weekdays["trigger_description"] == ("every weekday (Monday to Friday) at 09:00 UTC")
        assert weekdays["trigger_spec"]["day_of_week"] == "mon,tue,wed,thu,fri"
        next_run = datetime.fromisoformat(weekdays["next_run_time"])
        assert next_run == next(CronSim("0 9 * * 1-5", datetime.now(UTC)))
        both = jobs["old_both_days"]
        assert both["trigger_spec"]["legacy"] is True
        assert "must both match" in both["trigger_description"]
        assert datetime.fromisoformat(both["next_run_time"]) == later
        assert jobs["old_interval"]["trigger_description"] == "every 2 hours"

    assert isinstance(stored_trigger(url, "old_weekdays"), CrontabTrigger)
    assert isinstance(stored_trigger(url, "old_both_days"), CronTrigger)
    assert isinstance(stored_trigger(url, "old_interval"), AnchoredIntervalTrigger)
