"""Jitter moves a run inside its slot, never the schedule: driving the trigger's own
next-fire computation as the scheduler does (each fire time from the one before)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.base import BaseTrigger

from app.tasks.trigger_specs import CronSpec, IntervalSpec, build_trigger

START = datetime(2027, 3, 27, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    state = random.getstate()
    random.seed(20270327)
    yield
    random.setstate(state)


def chain(trigger: BaseTrigger, count: int, now: datetime) -> list[datetime]:
    out: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None and len(out) < count:
        out.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def test_interval_jitter_does_not_accumulate() -> None:
    # The case that drifted 3,039 s behind its slots after 20 runs.
    trigger = build_trigger(IntervalSpec(minutes=10, jitter=300, start_date=START))
    runs = chain(trigger, 20, START - timedelta(minutes=1))
    slots = [START + timedelta(minutes=10 * n) for n in range(20)]
    for run, slot in zip(runs, slots, strict=True):
        assert slot <= run < slot + timedelta(seconds=300)
    assert runs != slots  # jitter did move them


@pytest.mark.parametrize(
    ("spec", "slot_times"),
    [
        (
            CronSpec(expression="*/10 * * * *", jitter=600),
            [START + timedelta(minutes=10 * n) for n in range(50)],
        ),
        # Berlin's spring change: 01:30 and 03:00 (for 02:30) are 30 real minutes apart.
        (
            CronSpec(expression="30 1,2 * * *", timezone="Europe/Berlin", jitter=1800),
            [
                datetime(2027, 3, 27, 0, 30, tzinfo=UTC),
                datetime(2027, 3, 27, 1, 30, tzinfo=UTC),
                datetime(2027, 3, 28, 0, 30, tzinfo=UTC),
                datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
                datetime(2027, 3, 28, 23, 30, tzinfo=UTC),
                datetime(2027, 3, 29, 0, 30, tzinfo=UTC),
            ],
        ),
    ],
)
def test_cron_jitter_up_to_the_shortest_gap_loses_no_slot(
    spec: CronSpec, slot_times: list[datetime]
) -> None:
    runs = chain(build_trigger(spec), len(slot_times), START - timedelta(seconds=1))
    assert spec.jitter is not None
    for run, slot in zip(runs, slot_times, strict=True):
        assert slot <= run < slot + timedelta(seconds=spec.jitter)
