"""Triggers in words ("every day at 03:00 UTC"), for people reading the job list.

Written here rather than with cron-descriptor: that library describes an expression
alone, so it knows nothing of what changes a schedule's meaning here (the time zone,
jitter, start and end dates, the fields form and the interval and date triggers), and
its sentences would sit beside ours in one list. Ours come from the values each field
stands for (as cronsim reads them), not from the text, so `*/1` and `*` read alike.
Common shapes get a sentence; any other time of day falls back to its fields, which are
exact if less friendly; the days are always in words, with crontab's either-day rule
spelled out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim

from app.tasks.stored_triggers import upgrade
from app.tasks.triggers import CrontabTrigger

# In crontab's order: 0 is Sunday.
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# February 29 counts: a leap year has it.
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
# More times of day than this are not listed one by one.
MAX_LISTED_TIMES = 6


def describe(trigger: BaseTrigger) -> str:
    trigger = upgrade(trigger) or trigger
    if isinstance(trigger, IntervalTrigger):
        return _extras(_every(trigger.interval), None, trigger.end_date, trigger.jitter)
    if isinstance(trigger, CrontabTrigger):
        return _extras(_crontab(trigger), trigger.start_date, trigger.end_date, trigger.jitter)
    if isinstance(trigger, CronTrigger):
        return _extras(_legacy_cron(trigger), None, trigger.end_date, trigger.jitter)
    if isinstance(trigger, DateTrigger):
        return f"once, at {_moment(trigger.run_date)}"
    return str(trigger)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _every(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    if seconds != int(seconds):
        return f"every {seconds:g} seconds"
    for unit, size in UNITS:
        # "every 90 minutes" reads well; "every 3601 seconds" does not.
        if seconds >= size and seconds % size == 0 and seconds // size <= 120:
            count = int(seconds // size)
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    parts = []
    remaining = int(seconds)
    for unit, size in UNITS:
        if remaining >= size:
            parts.append(_plural(remaining // size, unit))
            remaining %= size
    return "every " + " ".join(parts)


def _zone_name(zone: object) -> str:
    name = str(zone)
    return "UTC" if name in ("UTC", "Etc/UTC", "utc") else name


def _moment(when: datetime) -> str:
    zone = _zone_name(when.tzinfo)
    return f"{when:%Y-%m-%d %H:%M} {zone}"


def _extras(text: str, start: datetime | None, end: datetime | None, jitter: float | None) -> str:
    # An interval's start date is its anchor, set when it was built if not given, and
    # says nothing a reader needs; a cron trigger's is only there when given.
    if start is not None:
        text = f"{text}, from {_moment(start)}"
    if end is not None:
        text = f"{text}, until {_moment(end)}"
    if jitter:
        text = f"{text}, each run up to {jitter:g} s late at random"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _series(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def _step_of(values: set[int], size: int) -> int | None:
    """N if `values` is 0, N, 2N, ... over a field of `size` values that N divides, so
    that "every N" holds across the field's wrap too."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != 0:
        return None
    step = ordered[1]
    if size % step or ordered != list(range(0, size, step)):
        return None
    return step


def _weekdays(days: set[int], word: str = "and") -> str:
    if days == {1, 2, 3, 4, 5}:
        return "every weekday (Monday to Friday)"
    if days == {0, 6}:
        return f"every Saturday {word} Sunday"
    ordered = sorted(days, key=lambda d: (d - 1) % 7)  # Monday first
    return "every " + _series([DAY_NAMES[d] for d in ordered], word)


def _days_of_month(days: set[int], last: bool) -> str:
    named = [_ordinal(d) for d in sorted(days)]
    if last:
        named.append("last day")
    return "the " + _series(named)


def _months(months: set[int]) -> str:
    return _series([MONTH_NAMES[m - 1] for m in sorted(months)])


def _dates(sim: CronSim, fields: dict[str, str]) -> str | None:
    """Which days, in words; None for every day."""
    weekdays = {d % 7 for d in sim.weekdays if isinstance(d, int)}
    # Days no chosen month has (the 30th of February) never match.
    longest = max(DAYS_IN_MONTH[m] for m in sim.months)
    month_days = {d for d in sim.days if 0 < d <= longest}
    last = CronSim.LAST in sim.days
    all_months = len(sim.months) == 12
    every_weekday = len(weekdays) == 7
    every_month_day = len(month_days) == longest
    # crontab(5): with both day fields restricted, either matching is enough; a field
    # that starts with `*` (`*/2` too) makes it both.
    either = not fields["day"].startswith("*") and not fields["day_of_week"].startswith("*")
    if either and (every_weekday or every_month_day):
        by_month_day = by_weekday = False
    else:
        by_month_day, by_weekday = not every_month_day, not every_weekday
    if not month_days and not last:
        by_month_day = False

    months = "every month" if all_months else _months(sim.months)
    in_months = "" if all_months else f" in {_months(sim.months)}"
    if not by_month_day and not by_weekday:
        return None if all_months else f"every day{in_months}"
    on_weekdays = _weekdays(weekdays) + in_months
    if not by_month_day:
        return on_weekdays
    if len(sim.months) == 1 and len(month_days) == 1 and not last:
        [day] = month_days
        on_days = f"every year on {MONTH_NAMES[min(sim.months) - 1]} {day}"
    else:
        on_days = f"on {_days_of_month(month_days, last)} of {months}"
    if not by_weekday:
        return on_days
    if either:
        return f"{on_days} and {on_weekdays}"
    named = _weekdays(weekdays, "or").removeprefix("every ")
    return f"{on_days}, when that day is also a {named}"


def _clock(hour: int, minute: int, second: int) -> str:
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def _crontab(trigger: CrontabTrigger) -> str:
    sim = CronSim(trigger.expression, datetime(2000, 1, 1))
    fields = trigger.fields
    zone = _zone_name(trigger.timezone)
    seconds, minutes, hours = sim.seconds, sim.minutes, sim.hours
    dates = _dates(sim, fields)

    times = [(h, m, s) for h in sorted(hours) for m in sorted(minutes) for s in sorted(seconds)]
    if len(times) <= MAX_LISTED_TIMES and not any(
        fields[f].startswith("*") for f in ("second", "minute", "hour") if len(_of(sim, f)) > 1
    ):
        at = _series([_clock(*t) for t in times]) + f" {zone}"
        if dates is None:
            return f"every day at {at}"
        return f"{dates} at {at}"

    often = _often(seconds, minutes, hours)
    if often is not None:
        if dates is None:
            return often if zone == "UTC" else f"{often} ({zone})"
        return f"{often}, {dates} ({zone})"

    shown = " ".join(
        f"{name}={fields[name]}"
        for name in ("hour", "minute", "second")
        if len(_of(sim, name)) < {"hour": 24, "minute": 60, "second": 60}[name]
    )
    if dates is None:
        return f"cron: {shown or 'every second'} ({zone})"
    return f"cron: {shown or 'every second'}, {dates} ({zone})"


def _of(sim: CronSim, name: str) -> set[int]:
    values: set[int] = {"second": sim.seconds, "minute": sim.minutes, "hour": sim.hours}[name]
    return values


def _often(seconds: set[int], minutes: set[int], hours: set[int]) -> str | None:
    """Repetition within a day, if it has a simple shape."""
    every_hour = len(hours) == 24
    every_minute = len(minutes) == 60
    if len(seconds) == 60 and every_minute and every_hour:
        return "every second"
    if every_minute and every_hour and (n := _step_of(seconds, 60)) is not None:
        return f"every {n} seconds"
    if seconds != {0}:
        return None
    if every_minute and every_hour:
        return "every minute"
    if every_hour and (n := _step_of(minutes, 60)) is not None:
        return f"every {n} minutes"
    if len(minutes) == 1:
        [m] = minutes
        if every_hour:
            return f"every hour at minute {m}" if m else "every hour, on the hour"
        if (n := _step_of(hours, 24)) is not None:
            return f"every {n} hours at minute {m}" if m else f"every {n} hours, on the hour"
    return None


def _legacy_cron(trigger: CronTrigger) -> str:
    """A trigger stored before crontab semantics that crontab cannot say (see
    `stored_triggers.upgrade`): its APScheduler fields, exact, with APScheduler's rule that
    day and day of week must both match."""
    fields: dict[str, Any] = {f.name: str(f) for f in trigger.fields}
    zone = _zone_name(trigger.timezone)
    names = ("year", "month", "week", "day", "day_of_week", "hour", "minute", "second")
    shown = " ".join(f"{name}={fields[name]}" for name in names if fields[name] != "*")
    both = (
        " (day and day_of_week must both match)"
        if "*"
        not in (
            fields["day"],
            fields["day_of_week"],
        )
        else ""
    )
    return f"cron: {shown or 'every second'}{both} ({zone}, weekdays numbered from Monday = 0)"
