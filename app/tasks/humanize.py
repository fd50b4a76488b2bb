"""Triggers in words ("every day at 03:00 UTC"), for people reading the job list.

Common shapes get a sentence; anything else falls back to its cron fields, which are
exact if less friendly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
# APScheduler 3 numbers weekdays from Monday = 0.
DAY_ORDER = tuple(DAY_NAMES)
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
UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def describe(trigger: BaseTrigger) -> str:
    if isinstance(trigger, IntervalTrigger):
        return _until(_every(trigger.interval), trigger.end_date)
    if isinstance(trigger, CronTrigger):
        return _until(_cron(trigger), trigger.end_date)
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


def _until(text: str, end: datetime | None) -> str:
    # The start date defaults to when the trigger was built, which says nothing; only an
    # end date changes what the schedule means.
    return f"{text}, until {_moment(end)}" if end is not None else text


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _step(text: str) -> int | None:
    """N for `*/N`."""
    if text.startswith("*/") and text[2:].isdigit():
        return int(text[2:])
    return None


def _days(text: str) -> str | None:
    """Weekday names for a day_of_week field of names, ranges and numbers."""
    days: list[str] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not _known_day(low) or (high and not _known_day(high)):
            return None
        first = _day_index(low)
        last = _day_index(high) if high else first
        if last < first:
            return None
        days.extend(DAY_ORDER[first : last + 1])
    unique = sorted(set(days), key=DAY_ORDER.index)
    if unique == list(DAY_ORDER[:5]):
        return "weekday (Monday to Friday)"
    if unique == ["sat", "sun"]:
        return "Saturday and Sunday"
    names = [DAY_NAMES[d] for d in unique]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _known_day(text: str) -> bool:
    return text in DAY_NAMES or (text.isdigit() and int(text) < 7)


def _day_index(text: str) -> int:
    return DAY_ORDER.index(text) if text in DAY_NAMES else int(text)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _cron(trigger: CronTrigger) -> str:
    fields = {f.name: str(f) for f in trigger.fields}
    zone = _zone_name(trigger.timezone)
    year, month, day, week = fields["year"], fields["month"], fields["day"], fields["week"]
    dow, hour, minute, second = (
        fields["day_of_week"],
        fields["hour"],
        fields["minute"],
        fields["second"],
    )
    calendar_any = year == "*" and week == "*"
    h, m, s = _number(hour), _number(minute), _number(second)

    # Sub-daily repetition with every date allowed.
    if calendar_any and month == "*" and day == "*" and dow == "*":
        if second == "*":
            return "every second"
        if (n := _step(second)) is not None and minute == "*" and hour == "*":
            return f"every {n} seconds"
        if s == 0 and minute == "*" and hour == "*":
            return "every minute"
        if s == 0 and (n := _step(minute)) is not None and hour == "*":
            return f"every {n} minutes"
        if s == 0 and m is not None and hour == "*":
            return f"every hour at minute {m}" if m else "every hour, on the hour"
        if s == 0 and m is not None and (n := _step(hour)) is not None:
            return f"every {n} hours at minute {m}" if m else f"every {n} hours, on the hour"

    if h is not None and m is not None and s is not None and calendar_any:
        at = f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "") + f" {zone}"
        if month == "*" and day == "*" and dow == "*":
            return f"every day at {at}"
        if month == "*" and day == "*" and (days := _days(dow)) is not None:
            return f"every {days} at {at}"
        if dow == "*" and (d := _number(day)) is not None:
            if month == "*":
                return f"on the {_ordinal(d)} of every month at {at}"
            if (mo := _number(month)) is not None and 1 <= mo <= 12:
                return f"every year on {MONTH_NAMES[mo - 1]} {d} at {at}"
        if dow == "*" and day == "last" and month == "*":
            return f"on the last day of every month at {at}"

    shown = " ".join(
        f"{name}={fields[name]}"
        for name in ("year", "month", "week", "day", "day_of_week", "hour", "minute", "second")
        if fields[name] != "*"
    )
    return f"cron: {shown or 'every second'} ({zone})"
