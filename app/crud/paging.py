"""A page of any query's rows, with the count of them all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")


async def page(
    db: AsyncSession,
    query: Select[T],
    *order_by: ColumnElement[Any] | QueryableAttribute[Any],
    limit: int,
    offset: int,
) -> tuple[Sequence[T], int]:
    """`limit` rows of `query` from `offset` on in `order_by` order, and how many rows
    the query has in all."""
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(*order_by).limit(limit).offset(offset))
    return rows.all(), total
