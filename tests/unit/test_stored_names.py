"""The class paths pickled into `apscheduler_jobs` are a contract with the stored jobs:
a trigger built today must name the module a stored one is loaded from."""

from __future__ import annotations

import io
import pickle

import pytest
from apscheduler.triggers.base import BaseTrigger

from app.tasks.trigger_specs import CronSpec, DateSpec, IntervalSpec, build_trigger


def pickled_classes(trigger: BaseTrigger) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> type:
            seen.add((module, name))
            found: type = super().find_class(module, name)
            return found

    Recording(io.BytesIO(pickle.dumps(trigger))).load()
    return seen


@pytest.mark.parametrize(
    ("spec", "class_path"),
    [
        (CronSpec(expression="0 9 * * 1-5"), ("app.tasks.triggers", "CrontabTrigger")),
        (CronSpec(hour=9, jitter=60), ("app.tasks.triggers", "CrontabTrigger")),
        (IntervalSpec(hours=2), ("app.tasks.triggers", "AnchoredIntervalTrigger")),
        (
            DateSpec(run_date="2999-01-01T00:00:00Z"),
            ("apscheduler.triggers.date", "DateTrigger"),
        ),
    ],
)
def test_triggers_pickle_under_their_stored_path(
    spec: CronSpec | IntervalSpec | DateSpec, class_path: tuple[str, str]
) -> None:
    assert class_path in pickled_classes(build_trigger(spec))
