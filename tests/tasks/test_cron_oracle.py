"""The cron trigger against cronsim (which follows Debian cron), over random crontab
expressions in UTC, Europe/Berlin and America/New_York, from starts around both 2027
clock changes.

The fire times compared are the scheduler's own: `next_fire_times` asks the trigger
for the first one from the start, then each from the one before, as the engine does.

Deliberate differences from cronsim, both choices a crontab user would make:
- Never back in time. Started inside a repeated autumn hour, cronsim can yield, for a
  job at a fixed local time, that time's first occurrence, which is already past;
  cron(8) would not run it (it ran before the clock went back). The oracle's times are
  kept only when later than the start and than the time kept before them.
- Six-field expressions (seconds first) get cron(8)'s rule for fixed local times too;
  cronsim applies it to five-field expressions only, so six-field ones are not
  compared here (`test_triggers.py` has their cases).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.tasks.trigger_specs import CronSpec, build_trigger
from app.tasks.triggers import next_fire_times

ZONES = ("UTC", "Europe/Berlin", "America/New_York")
# Both 2027 clock changes of each zone, in UTC.
CLOCK_CHANGES = (
    datetime(2027, 3, 14, 7, tzinfo=UTC),
    datetime(2027, 11, 7, 6, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
)
COMPARED = 6
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    def value(lo: int = low) -> int:
        return draw(st.integers(lo, high))

    def shown(number: int) -> str:
        # Names start at 1 for months and 0 for weekdays; 7 (Sunday again) has none.
        index = number - low
        if names and index < len(names) and draw(st.booleans()):
            return names[index]
        return str(number)

    def item() -> str:
        kind = draw(st.sampled_from(("star", "step", "value", "range", "range_step", "from")))
        step = draw(st.integers(1, high - low + 2))
        if kind == "star":
            return "*"
        if kind == "step":
            return f"*/{step}"
        first = value()
        if kind == "value":
            return shown(first)
        if kind == "from":
            return f"{shown(first)}/{step}"
        last = value(first)
        text = f"{shown(first)}-{shown(last)}"
        return f"{text}/{step}" if kind == "range_step" else text

    return ",".join(item() for _ in range(draw(st.integers(1, 3))))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    # Fixed local times are the interesting case at a clock change: often a single
    # minute and hour, and the hours around the changes.
    minute = draw(st.one_of(st.integers(0, 59).map(str), field(0, 59)))
    hour = draw(st.one_of(st.sampled_from(("0", "1", "2", "3")), field(0, 23)))
    day = draw(st.one_of(st.just("*"), field(1, 31)))
    month = draw(st.one_of(st.just("*"), field(1, 12, MONTHS)))
    weekday = draw(st.one_of(st.just("*"), field(0, 7, WEEKDAYS)))
    return f"{minute} {hour} {day} {month} {weekday}"


@st.composite
def starts(draw: st.DrawFn) -> datetime:
    change = draw(st.sampled_from(CLOCK_CHANGES))
    seconds = draw(st.integers(-3 * 86400, 6 * 3600))
    # Half a second in: a start between two whole seconds means the same to both.
    return change + timedelta(seconds=seconds, microseconds=500_000)


def oracle(expression: str, zone: str, start: datetime) -> list[datetime]:
    kept: list[datetime] = []
    latest = start
    for fire in CronSim(expression, start.astimezone(ZoneInfo(zone))):
        if fire.astimezone(UTC) > latest:
            latest = fire.astimezone(UTC)
            kept.append(latest)
            if len(kept) == COMPARED:
                break
    return kept


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expression=expressions(), zone=st.sampled_from(ZONES), start=starts())
def test_fire_times_are_cronsims(expression: str, zone: str, start: datetime) -> None:
    try:
        expected = oracle(expression, zone, start)
    except CronSimError:
        assume(False)
    trigger = build_trigger(CronSpec(expression=expression, timezone=zone))
    fired = [t.astimezone(UTC) for t in next_fire_times(trigger, COMPARED, start)]
    assert fired == expected, (expression, zone, start)
