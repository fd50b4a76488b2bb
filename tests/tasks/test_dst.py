"""No run lost or doubled at a clock change: both 2027 changes of Europe/Berlin,
America/New_York and Australia/Sydney, driving the trigger's own next-fire computation
as the scheduler does (each fire time from the one before)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.base import BaseTrigger

from app.tasks.trigger_specs import CronSpec, build_trigger

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney")
WINDOW = timedelta(days=3)


def clock_changes(zone: ZoneInfo, year: int = 2027) -> list[datetime]:
    changes = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        following = moment + timedelta(minutes=30)
        if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            changes.append(following)
        moment = following
    return changes


CHANGES = [
    pytest.param(name, change, id=f"{name}-{change:%m-%d}")
    for name in ZONES
    for change in clock_changes(ZoneInfo(name))
]


def fires(trigger: BaseTrigger, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        out.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def test_each_zone_changes_twice_in_2027() -> None:
    assert [len(clock_changes(ZoneInfo(name))) for name in ZONES] == [2, 2, 2]


@pytest.mark.parametrize(("zone_name", "change"), CHANGES)
@pytest.mark.parametrize(
    ("hour", "minute"), [(0, 0), (1, 30), (2, 0), (2, 30), (2, 59), (3, 0), (3, 30), (23, 0)]
)
def test_a_daily_job_runs_once_every_local_day(
    zone_name: str, change: datetime, hour: int, minute: int
) -> None:
    zone = ZoneInfo(zone_name)
    trigger = build_trigger(CronSpec(expression=f"{minute} {hour} * * *", timezone=zone_name))
    start, end = change - WINDOW, change + WINDOW
    times = fires(trigger, start, end)
    per_day = Counter(t.astimezone(zone).date() for t in times)
    first, last = (
        (start + timedelta(days=1)).astimezone(zone).date(),
        (end - timedelta(days=1)).astimezone(zone).date(),
    )
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert [per_day[d] for d in days] == [1] * len(days)
    for fire in times:
        local = fire.astimezone(zone)
        if (local.hour, local.minute) != (hour, minute):
            # Only a time the clock skipped moves, to the first minute after the jump.
            wanted = datetime(local.year, local.month, local.day, hour, minute)
            assert (
                wanted.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
                != wanted
            )
            before = (fire - timedelta(minutes=1)).astimezone(zone)
            assert local - before.replace(tzinfo=zone) > timedelta(minutes=1)


@pytest.mark.parametrize(("zone_name", "change"), CHANGES)
def test_a_weekly_job_on_the_day_of_the_change_runs_once_that_week(
    zone_name: str, change: datetime
) -> None:
    zone = ZoneInfo(zone_name)
    local_day = change.astimezone(zone).date()
    weekday = (local_day.weekday() + 1) % 7  # crontab's numbering
    trigger = build_trigger(CronSpec(expression=f"30 2 * * {weekday}", timezone=zone_name))
    times = fires(trigger, change - timedelta(days=15), change + timedelta(days=15))
    assert [t.astimezone(zone).date() for t in times] == [
        local_day + timedelta(weeks=n) for n in (-2, -1, 0, 1, 2)
    ]


@pytest.mark.parametrize(("zone_name", "change"), CHANGES)
@pytest.mark.parametrize(
    ("expression", "minutes"),
    [("30 * * * *", {30}), ("*/15 * * * *", {0, 15, 30, 45}), ("0 * * * *", {0})],
)
def test_a_job_with_a_wildcard_hour_runs_in_every_real_hour(
    zone_name: str, change: datetime, expression: str, minutes: set[int]
) -> None:
    trigger = build_trigger(CronSpec(expression=expression, timezone=zone_name))
    start, end = change - timedelta(hours=6), change + timedelta(hours=6)
    # These zones are a whole number of hours from UTC: a local minute is a UTC minute.
    expected = [
        start + timedelta(minutes=n)
        for n in range(int((end - start).total_seconds() // 60))
        if (start + timedelta(minutes=n)).minute in minutes
    ]
    assert fires(trigger, start, end) == expected


def test_clock_change_days_are_in_the_window() -> None:
    # The checks above look at whole local days around each change.
    berlin = ZoneInfo("Europe/Berlin")
    assert [c.astimezone(berlin).date() for c in clock_changes(berlin)] == [
        date(2027, 3, 28),
        date(2027, 10, 31),
    ]
