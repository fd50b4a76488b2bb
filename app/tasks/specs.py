"""The one check of a job spec, run where a request is accepted and again on the leader,
which may run other code than the process that accepted it: the task is registered,
its params fit the task's model, and the trigger fires at least once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from app.core.errors import Invalid
from app.tasks import trigger_specs
from app.tasks.registry import TaskDefinition, TaskRegistry, UnknownTask


def check_task(
    registry: TaskRegistry, task: str, params: dict[str, Any]
) -> tuple[TaskDefinition, BaseModel]:
    """The task's definition and its parsed params; `Invalid` naming the field if not."""
    try:
        definition = registry.get(task)
    except UnknownTask:
        known = ", ".join(t.name for t in registry.all())
        raise Invalid(f"unknown task {task!r}; registered tasks: {known}", field="task") from None
    try:
        parsed = definition.params_model.model_validate(params)
    except ValidationError as exc:
        raise Invalid(
            [
                {
                    "loc": ["body", "params", *map(str, err["loc"])],
                    "msg": err["msg"],
                    "type": err["type"],
                }
                for err in exc.errors()
            ]
        ) from None
    return definition, parsed


def check_trigger(spec: trigger_specs.AnySpec) -> None:
    try:
        trigger_specs.check_fires(spec)
    except ValueError as exc:
        raise Invalid(str(exc), field="trigger") from None
