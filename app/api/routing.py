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

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_constant=_refuse_constant)
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
