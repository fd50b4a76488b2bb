"""The one check of a job spec, the JSON a result is stored as, and the retry policy."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.core.errors import Invalid
from app.core.retry import retrying
from app.tasks import specs
from app.tasks.history import MAX_RESULT_BYTES, json_safe
from app.tasks.jobs import registry
from app.tasks.trigger_specs import DateSpec, IntervalSpec


def errors_of(exc: Invalid) -> list[dict[str, Any]]:
    assert isinstance(exc.detail, list)
    return exc.detail


def test_a_known_task_with_fitting_params_passes() -> None:
    definition, parsed = specs.check_task(registry, "scrape_bot", {"bot_config_id": 3})
    assert definition.name == "scrape_bot"
    assert parsed.model_dump() == {"bot_config_id": 3}


def test_an_unknown_task_names_the_field_and_the_known_tasks() -> None:
    with pytest.raises(Invalid) as caught:
        specs.check_task(registry, "nope", {})
    detail = errors_of(caught.value)
    [error] = detail
    assert error["loc"] == ["body", "task"]
    assert "scrape_bot" in error["msg"]


def test_params_that_do_not_fit_name_their_field() -> None:
    with pytest.raises(Invalid) as caught:
        specs.check_task(registry, "scrape_bot", {"bot_config_id": "x", "extra": 1})
    detail = errors_of(caught.value)
    locs = sorted(tuple(error["loc"]) for error in detail)
    assert locs == [("body", "params", "bot_config_id"), ("body", "params", "extra")]


def test_a_trigger_that_never_fires_is_invalid() -> None:
    specs.check_trigger(IntervalSpec(seconds=5))
    with pytest.raises(Invalid) as caught:
        specs.check_trigger(DateSpec(run_date=datetime(2001, 1, 1, tzinfo=UTC)))
    detail = errors_of(caught.value)
    assert detail[0]["loc"] == ["body", "trigger"]


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({"at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}, {"at": "2024-01-02T03:04:05Z"}),
        ({"tags": {"a"}}, {"tags": ["a"]}),
        ({"thing": Opaque()}, {"thing": "<opaque>"}),
        ({"amount": Decimal("1.5")}, {"amount": "1.5"}),
        ([1, 2], {"result": [1, 2]}),
        (None, {"result": None}),
    ],
)
def test_a_result_is_stored_as_a_json_object(value: Any, stored: dict[str, Any]) -> None:
    assert json_safe(value) == stored


def test_an_oversized_result_is_cut_down() -> None:
    stored = json_safe({"text": "x" * MAX_RESULT_BYTES})
    assert stored["truncated"] is True
    assert len(stored["preview"]) == 2000


async def test_retrying_backs_off_exponentially_then_gives_up() -> None:
    calls: list[int] = []
    waits: list[tuple[int, str, float]] = []

    async def failing() -> None:
        calls.append(1)
        raise OSError("down")

    with pytest.raises(OSError, match="down"):
        await retrying(
            failing,
            attempts=3,
            backoff_seconds=0.001,
            retry_on=(OSError,),
            on_retry=lambda attempt, problem, delay: waits.append((attempt, problem, delay)),
        )
    assert len(calls) == 3
    assert waits == [(1, "down", 0.001), (2, "down", 0.002)]


async def test_retrying_returns_the_first_success_and_takes_a_wait_hint() -> None:
    attempts: list[int] = []
    waits: list[float] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise TimeoutError
        return "ok"

    result = await retrying(
        flaky,
        attempts=5,
        backoff_seconds=60,
        retry_on=(TimeoutError,),
        on_retry=lambda _, __, delay: waits.append(delay),
        wait_hint=lambda _: 0.0,
    )
    assert result == "ok"
    assert waits == [0.0]


async def test_retrying_does_not_retry_other_errors() -> None:
    async def broken() -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        await retrying(broken, attempts=5, backoff_seconds=0, retry_on=(OSError,))
