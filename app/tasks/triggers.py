"""Triggers as JSON: validation, conversion to APScheduler triggers, and back.

Every trigger is built with an explicit time zone (UTC unless one is given): a trigger
object built by hand would otherwise take the machine's local zone, not the
scheduler's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas.types import TimeZone, union_member_schema

CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class _TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    timezone: TimeZone = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    jitter: int | None = Field(default=None, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset, e.g. 2027-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> _TriggerBase:
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class IntervalSpec(_TriggerBase):
    model_config = ConfigDict(
        json_schema_extra=union_member_schema(
            one_positive=("weeks", "days", "hours", "minutes", "seconds")
        )
    )

    type: Literal["interval"] = "interval"
    weeks: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)
    hours: int = Field(default=0, ge=0)
    minutes: int = Field(default=0, ge=0)
    seconds: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> IntervalSpec:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be greater than zero")
        return self

    @property
    def interval(self) -> timedelta:
        return timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )


class CronSpec(_TriggerBase):
    """Either a crontab `expression` (minute hour day month day-of-week, with crontab's
    weekday numbers: 0 or 7 is Sunday; a sixth leading field gives seconds) or
    APScheduler's cron fields."""

    type: Literal["cron"] = "cron"
    expression: str | None = None
    year: str | int | None = None
    month: str | int | None = None
    day: str | int | None = None
    week: str | int | None = None
    day_of_week: str | int | None = None
    hour: str | int | None = None
    minute: str | int | None = None
    second: str | int | None = None

    @model_validator(mode="after")
    def _buildable(self) -> CronSpec:
        fields = {f: getattr(self, f) for f in CRON_FIELDS if getattr(self, f) is not None}
        if self.expression is not None and fields:
            raise ValueError("give either `expression` or cron fields, not both")
        if self.expression is None and not fields:
            raise ValueError("give a crontab `expression` or at least one cron field")
        try:
            build_trigger(self)
        except ValueError as exc:
            raise ValueError(f"invalid cron trigger: {exc}") from exc
        return self


class DateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    type: Literal["date"] = "date"
    run_date: datetime
    timezone: TimeZone = "UTC"

    @field_validator("run_date")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone offset, e.g. 2027-01-01T00:00:00Z")
        return value

    _known_zone = field_validator("timezone")(_TriggerBase._known_zone.__func__)  # type: ignore[attr-defined]


TriggerSpec = Annotated[IntervalSpec | CronSpec | DateSpec, Field(discriminator="type")]


def _crontab_weekdays(field: str) -> str:
    """Crontab weekday numbers (0/7 = Sunday) as names, since APScheduler 3 counts from
    Monday = 0. Names and `*` pass through unchanged."""
    if not any(ch.isdigit() for ch in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(f"bad step in day-of-week {field!r}")
        if part == "*":
            low, high = 0, 6
        elif "-" in part:
            low_text, high_text = part.split("-", 1)
            low, high = _weekday_number(low_text), _weekday_number(high_text)
        else:
            low = _weekday_number(part)
            high = 6 if step > 1 else low
        if high < low:
            raise ValueError(f"bad range in day-of-week {field!r}")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(WEEKDAY_NAMES[d] for d in sorted(days))


def _weekday_number(text: str) -> int:
    text = text.strip().lower()
    if text in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(text)
    if not text.isdigit() or int(text) > 7:
        raise ValueError(f"bad day of week {text!r}")
    return int(text)


def build_trigger(spec: IntervalSpec | CronSpec | DateSpec) -> BaseTrigger:
    zone = ZoneInfo(spec.timezone)
    if isinstance(spec, IntervalSpec):
        return IntervalTrigger(
            weeks=spec.weeks,
            days=spec.days,
            hours=spec.hours,
            minutes=spec.minutes,
            seconds=spec.seconds,
            start_date=spec.start_date,
            end_date=spec.end_date,
            timezone=zone,
            jitter=spec.jitter,
        )
    if isinstance(spec, CronSpec):
        common: dict[str, Any] = {
            "start_date": spec.start_date,
            "end_date": spec.end_date,
            "timezone": zone,
            "jitter": spec.jitter,
        }
        if spec.expression is not None:
            values = spec.expression.split()
            if len(values) == 5:
                values.insert(0, "0")
            if len(values) != 6:
                raise ValueError(
                    "a crontab expression has 5 fields (or 6, with seconds first), "
                    f"got {len(values)}: {spec.expression!r}"
                )
            second, minute, hour, day, month, day_of_week = values
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_crontab_weekdays(day_of_week),
                **common,
            )
        fields = {f: getattr(spec, f) for f in CRON_FIELDS if getattr(spec, f) is not None}
        return CronTrigger(**fields, **common)
    return DateTrigger(run_date=spec.run_date, timezone=zone)


def check_fires(spec: IntervalSpec | CronSpec | DateSpec, now: datetime | None = None) -> None:
    """Reject a trigger that would never fire again (a past date, an end before now)."""
    now = now or datetime.now(UTC)
    if isinstance(spec, DateSpec) and spec.run_date <= now:
        raise ValueError("run_date is in the past")
    if next_fire_times(build_trigger(spec), 1, now) == []:
        raise ValueError("this trigger never fires after now")


def next_fire_times(
    trigger: BaseTrigger, count: int, now: datetime | None = None
) -> list[datetime]:
    now = now or datetime.now(UTC)
    times: list[datetime] = []
    previous: datetime | None = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire)
        previous = fire
        now = fire + timedelta(microseconds=1)
    return times


def describe_trigger(trigger: BaseTrigger) -> dict[str, Any]:
    """A stored APScheduler trigger as JSON (the shape `TriggerSpec` accepts)."""
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
    if isinstance(trigger, CronTrigger):
        out = {"type": "cron"}
        for field in trigger.fields:
            if not field.is_default:
                out[field.name] = str(field)
        out["start_date"] = trigger.start_date.isoformat() if trigger.start_date else None
        out["end_date"] = trigger.end_date.isoformat() if trigger.end_date else None
        out["timezone"] = str(trigger.timezone)
        out["jitter"] = trigger.jitter
        return out
    if isinstance(trigger, DateTrigger):
        return {"type": "date", "run_date": trigger.run_date.isoformat()}
    return {"type": type(trigger).__name__}


def signature(trigger: BaseTrigger) -> tuple[Any, ...]:
    """What defines when a trigger fires, without its anchor: two triggers with the same
    signature fire on the same pattern, so a stored job is left as it is."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval, str(trigger.timezone))
    if isinstance(trigger, CronTrigger):
        return ("cron", str(trigger), str(trigger.timezone))
    if isinstance(trigger, DateTrigger):
        return ("date", trigger.run_date)
    return (repr(trigger),)
