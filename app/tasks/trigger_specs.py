"""Triggers as JSON: the specs the API and the catalog give, their bounds, and the
scheduler's trigger each one builds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.schemas.types import Timestamp, TimeZone, union_member_schema
from app.tasks.crontab import (
    CRONTAB_FIELDS,
    check_days,
    check_field,
    complete_fields,
    crontab_fields,
)
from app.tasks.triggers import AnchoredIntervalTrigger, crontab_trigger, next_fire_times

# Bounds on what a trigger may say (its dates are `Timestamp`s), so that no date
# arithmetic can leave datetime's range.
MAX_INTERVAL = timedelta(days=3660)
MAX_JITTER_SECONDS = 31 * 86400


def _finite(data: Any) -> Any:
    """JSON has no NaN or Infinity, so a 422 that showed them could not be sent: they
    reach the fields' own checks as text, whose errors show the text."""
    if isinstance(data, dict):
        return {
            key: str(value) if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in data.items()
        }
    return data


Jitter = Annotated[int, Field(ge=0, le=MAX_JITTER_SECONDS)]
# A cron field in the fields form: crontab's syntax, or one number.
CronValue = Annotated[str, Field(max_length=200)] | StrictInt


class _TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return _finite(data)

    timezone: TimeZone = "UTC"
    start_date: Timestamp | None = None
    end_date: Timestamp | None = None

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
    weeks: int = Field(default=0, ge=0, le=MAX_INTERVAL.days // 7)
    days: int = Field(default=0, ge=0, le=MAX_INTERVAL.days)
    hours: int = Field(default=0, ge=0, le=MAX_INTERVAL.days * 24)
    minutes: int = Field(default=0, ge=0, le=MAX_INTERVAL.days * 1440)
    seconds: float = Field(default=0, ge=0, le=MAX_INTERVAL.total_seconds(), allow_inf_nan=False)
    # Last, so that its check sees the interval.
    jitter: Jitter | None = None

    @field_validator("jitter")
    @classmethod
    def _within_interval(cls, value: int | None, info: ValidationInfo) -> int | None:
        units = ("weeks", "days", "hours", "minutes", "seconds")
        if value and all(unit in info.data for unit in units):
            interval = timedelta(**{unit: info.data[unit] for unit in units})
            if interval > timedelta(0) and value > interval.total_seconds():
                raise ValueError(
                    f"must not be longer than the interval ({interval.total_seconds():g} s): "
                    "a run moves inside its own slot"
                )
        return value

    @model_validator(mode="after")
    def _positive(self) -> IntervalSpec:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be greater than zero")
        if self.interval > MAX_INTERVAL:
            raise ValueError(f"interval must be at most {MAX_INTERVAL.days} days")
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
    """A crontab `expression` (minute hour day month day-of-week, a sixth leading field
    for seconds, or a macro such as `@daily`), or the same fields by name. Both forms
    mean what crontab means, weekday numbers included: 0 or 7 is Sunday."""

    type: Literal["cron"] = "cron"
    expression: str | None = Field(default=None, max_length=500)
    month: CronValue | None = None
    day: CronValue | None = None
    day_of_week: CronValue | None = None
    hour: CronValue | None = None
    minute: CronValue | None = None
    second: CronValue | None = None
    # Last, so that its check sees the whole trigger.
    jitter: Jitter | None = None

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            crontab_fields(value)
        return value

    @field_validator(*CRONTAB_FIELDS)
    @classmethod
    def _field_parses(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        if value is not None:
            assert info.field_name is not None
            check_field(info.field_name, str(value), allow_last=True)
        return value

    @field_validator("jitter")
    @classmethod
    def _within_gap(cls, value: int | None, info: ValidationInfo) -> int | None:
        if not value:
            return value
        try:
            trigger = crontab_trigger(info.data, jitter=None)
            check_days(trigger.fields)
        except (KeyError, ValueError):
            return value  # the fields' own errors say what is wrong
        gap = trigger.shortest_gap()
        if gap is not None and value > gap.total_seconds():
            raise ValueError(
                f"must not be longer than the shortest gap between fire times "
                f"({gap.total_seconds():g} s): a run moves inside its own slot"
            )
        return value

    @model_validator(mode="after")
    def _one_form(self) -> CronSpec:
        fields = self.given_fields()
        if self.expression is not None and fields:
            raise ValueError("give either `expression` or cron fields, not both")
        if self.expression is None and not fields:
            raise ValueError("give a crontab `expression` or at least one cron field")
        if fields:
            check_days(complete_fields(fields))
        return self

    def given_fields(self) -> dict[str, str]:
        return {f: str(getattr(self, f)) for f in CRONTAB_FIELDS if getattr(self, f) is not None}


class DateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    type: Literal["date"] = "date"
    run_date: Timestamp
    timezone: TimeZone = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return _finite(data)


TriggerSpec = Annotated[IntervalSpec | CronSpec | DateSpec, Field(discriminator="type")]
AnySpec = IntervalSpec | CronSpec | DateSpec


def build_trigger(spec: AnySpec) -> BaseTrigger:
    zone = ZoneInfo(spec.timezone)
    if isinstance(spec, IntervalSpec):
        return AnchoredIntervalTrigger(
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
        return crontab_trigger(spec.model_dump(), jitter=spec.jitter)
    return DateTrigger(run_date=spec.run_date.astimezone(zone), timezone=zone)


def check_fires(spec: AnySpec, now: datetime | None = None) -> None:
    """Reject a trigger that would never fire again (a past date, an end before now)."""
    now = now or datetime.now(UTC)
    if isinstance(spec, DateSpec) and spec.run_date <= now:
        raise ValueError("run_date is in the past")
    if next_fire_times(build_trigger(spec), 1, now) == []:
        raise ValueError("this trigger never fires after now")
