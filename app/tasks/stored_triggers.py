"""Triggers as `apscheduler_jobs` holds them: read back as JSON, compared by what makes
them fire, and those stored by earlier versions upgraded to the current classes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.tasks.crontab import (
    CRONTAB_FIELDS,
    SIGNIFICANCE,
    WEEKDAY_NAMES,
    check_field,
    complete_fields,
)
from app.tasks.triggers import AnchoredIntervalTrigger, CrontabTrigger


def describe_trigger(trigger: BaseTrigger) -> dict[str, Any]:
    """A stored trigger as JSON (the shape `TriggerSpec` accepts)."""
    trigger = upgrade(trigger) or trigger
    if isinstance(trigger, IntervalTrigger):
        total = trigger.interval.total_seconds()
        out: dict[str, Any] = {"type": "interval"}
        for unit, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
            if total >= size and total % size == 0:
                out[unit] = int(total // size)
                break
        else:
            out["seconds"] = total
        out["start_date"] = trigger.start_date.isoformat() if trigger.start_date else None
        out["end_date"] = trigger.end_date.isoformat() if trigger.end_date else None
        out["timezone"] = str(trigger.timezone)
        out["jitter"] = trigger.jitter
        return out
    if isinstance(trigger, CrontabTrigger):
        return {
            "type": "cron",
            **trigger.source,
            "start_date": trigger.start_date.isoformat() if trigger.start_date else None,
            "end_date": trigger.end_date.isoformat() if trigger.end_date else None,
            "timezone": str(trigger.timezone),
            "jitter": trigger.jitter,
        }
    if isinstance(trigger, CronTrigger):
        # Stored before crontab semantics, with what they cannot say (see `upgrade`):
        # APScheduler's own fields and meaning.
        out = {"type": "cron", "legacy": True}
        for field in trigger.fields:
            if not field.is_default:
                out[field.name] = str(field)
        out["timezone"] = str(trigger.timezone)
        return out
    if isinstance(trigger, DateTrigger):
        return {
            "type": "date",
            "run_date": trigger.run_date.isoformat(),
            "timezone": str(trigger.run_date.tzinfo),
        }
    return {"type": type(trigger).__name__}


def signature(trigger: BaseTrigger) -> tuple[Any, ...]:
    """What defines when a trigger fires, without its anchor: two triggers with the same
    signature fire on the same pattern, so a stored job is left as it is."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval, str(trigger.timezone))
    if isinstance(trigger, CrontabTrigger):
        return ("crontab", tuple(trigger.fields.items()), str(trigger.timezone))
    if isinstance(trigger, CronTrigger):
        return ("cron", str(trigger), str(trigger.timezone))
    if isinstance(trigger, DateTrigger):
        return ("date", trigger.run_date)
    return (repr(trigger),)


# A pickle names each class it holds by its module and name, so a job whose state names
# neither module holds no trigger `upgrade` changes: the leader unpickles only the jobs
# whose states do.
UPGRADED_MODULES = tuple(cls.__module__.encode() for cls in (IntervalTrigger, CronTrigger))


def upgrade(trigger: BaseTrigger) -> BaseTrigger | None:
    """The trigger this code would build for one stored before it, with the same
    meaning; None if `trigger` is current or cannot be said exactly.

    An APScheduler interval trigger becomes an `AnchoredIntervalTrigger` (the same
    state; only jitter works differently). An APScheduler cron trigger becomes a
    `CrontabTrigger` when crontab can say the same days: not when it restricts the year
    or the week, nor both day of month and day of week (APScheduler wants both to
    match, crontab either), nor days such as `1st mon`. Weekday numbers are translated
    (APScheduler counts from Monday = 0)."""
    if type(trigger) is IntervalTrigger:
        anchored: AnchoredIntervalTrigger = AnchoredIntervalTrigger.__new__(AnchoredIntervalTrigger)
        anchored.__setstate__(trigger.__getstate__())
        return anchored
    if type(trigger) is not CronTrigger:
        return None
    fields = {f.name: f for f in trigger.fields}
    if str(fields["year"]) != "*" or str(fields["week"]) != "*":
        return None
    day, weekday = str(fields["day"]), str(fields["day_of_week"])
    if day != "*" and weekday != "*":
        return None
    source = {name: str(fields[name]) for name in SIGNIFICANCE if not fields[name].is_default}
    if "day_of_week" in source:
        source["day_of_week"] = _crontab_weekdays(fields["day_of_week"])
    if not source:
        source = {"second": "0"}
    try:
        for name, value in source.items():
            check_field(name, value, allow_last=True)
    except ValueError:
        return None
    if complete_fields(source) != {
        name: str(fields[name]) if name != "day_of_week" else source.get(name, weekday)
        for name in CRONTAB_FIELDS
    }:
        return None
    return CrontabTrigger(
        source,
        timezone=ZoneInfo(str(trigger.timezone)),
        start_date=trigger.start_date,
        end_date=trigger.end_date,
        jitter=trigger.jitter,
    )


def _crontab_weekdays(field: Any) -> str:
    """An APScheduler day-of-week field (Monday = 0) as crontab weekday names."""
    days = []
    monday = datetime(2024, 1, 1)
    for offset in range(7):
        date = monday + timedelta(days=offset)
        if any(expr.get_next_value(date, field) == offset for expr in field.expressions):
            days.append(WEEKDAY_NAMES[(offset + 1) % 7])
    if len(days) == 7:
        return "*"
    return ",".join(sorted(days, key=WEEKDAY_NAMES.index))
