"""Routing: the route class of every API router, and the `integer` path convertor.

Request bodies are read as strict JSON.

Python's `json` module accepts `NaN`, `Infinity` and `-Infinity`, which JSON (RFC 8259)
does not have. Taken in, such a number could be stored in free-form fields and then
break every response that shows it; here it is a 422 like any other malformed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor


class _NonFinite(str):
    """Where the body had `NaN` or `[-]Infinity`: kept apart from every real value, so
    the 422 can name the field it was given for."""


def _first_non_finite(value: Any, path: tuple[str | int, ...] = ()) -> tuple[Any, ...] | None:
    if isinstance(value, _NonFinite):
        return (*path, str(value))
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _first_non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            parsed = json.loads(await self.body(), parse_constant=_NonFinite)
            found = _first_non_finite(parsed)
            if found is not None:
                *path, name = found
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    [
                        {
                            "type": "json_invalid",
                            "loc": ["body", *path],
                            "msg": f"{name} is not a JSON number",
                        }
                    ],
                )
            self._json = parsed
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_json_handler


class IntegerConvertor(Convertor[int]):
    """`{name:integer}` in a path: matches only an integer (negative too, unlike
    Starlette's `int`, so `-1` still reaches the route and is a plain unknown id). A
    path beside it whose segment is a word (`/users/me`) then never falls to it."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("integer", IntegerConvertor())
