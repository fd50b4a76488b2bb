from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(
    schema: type[M], rows: Iterable[Any], total: int, *, limit: int, offset: int
) -> Page[M]:
    """One page of stored rows, each shown as `schema`."""
    items = [schema.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


class ErrorResponse(BaseModel):
    """Every error but a validation error: `{"detail": "what went wrong"}`."""

    detail: str


class ValidationErrorItem(BaseModel):
    """One refused value: where it was (`["body", "trigger", "hours"]`), why, and the
    error's kind. The value itself is never repeated back."""

    loc: list[str | int]
    msg: str
    type: str
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    """A 422 (or a 400): a list of refused values, or one sentence for a rule that spans
    fields or a body that could not be read."""

    detail: list[ValidationErrorItem] | str
