"""The OpenAPI schema states what the server enforces and the statuses it answers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.api.routing import StrictJSONRoute
from app.schemas.bot_config import SUBREDDIT_INPUT_PATTERN, normalize_subreddits


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


def test_every_api_route_reads_strict_json(app: FastAPI) -> None:
    routes = [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and (context.path or "").startswith("/api/")
    ]
    assert len(routes) > 30
    assert [r.path for r in routes if not isinstance(r, StrictJSONRoute)] == []


async def test_operations_declare_the_statuses_they_answer(openapi: dict[str, Any]) -> None:
    for method, path, operation in operations(openapi):
        declared = set(operation["responses"])
        name = f"{method} {path}"
        if operation.get("security"):
            assert "401" in declared, name
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= declared, name
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in declared, name
        if re.search(r"\{\w+_id\}", path) and not path.startswith("/api/v1/tasks/{job_id}/"):
            assert "404" in declared, name
        for status in declared - {"200", "201", "202", "204"}:
            content = operation["responses"][status].get("content")
            if content:
                ref = content["application/json"]["schema"]["$ref"]
                assert ref.endswith(("ErrorResponse", "ValidationErrorResponse")), name
    tasks = {(m, p) for m, p, op in operations(openapi) if p.startswith("/api/v1/tasks")}
    for method, path, operation in operations(openapi):
        if (method, path) in tasks:
            assert "403" in operation["responses"], f"{method} {path}"
    login = openapi["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]


async def test_the_schema_states_the_rules_the_server_enforces(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("IntervalSpec", "CronSpec", "DateSpec"):
        assert "type" in schemas[name]["required"], name
        assert "UTC" in schemas[name]["properties"]["timezone"]["enum"], name
        assert "Mars/Olympus_Mons" not in schemas[name]["properties"]["timezone"]["enum"]
    positive = schemas["IntervalSpec"]["anyOf"]
    assert {unit for branch in positive for unit in branch["required"]} == {
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
    }
    subreddits = schemas["BotConfigCreate"]["properties"]["subreddits"]
    assert subreddits["items"]["pattern"] == SUBREDDIT_INPUT_PATTERN
    assert (subreddits["minItems"], subreddits["maxItems"]) == (1, 50)
    # The pattern is the rule itself: what it accepts the server accepts.
    for name in ("python", " r/Python/ ", "/r/learn_python", "abc"):
        assert re.fullmatch(SUBREDDIT_INPUT_PATTERN, name)
        assert normalize_subreddits([name])
    for name in ("ab", "a" * 22, "r/r/python", "py thon", "py\x00thon"):
        assert not re.fullmatch(SUBREDDIT_INPUT_PATTERN, name)
        with pytest.raises(ValueError, match="not a valid subreddit name"):
            normalize_subreddits([name])
    job = schemas["JobCreate"]["properties"]
    assert job["misfire_grace_time"]["anyOf"][0]["maximum"] == 7 * 24 * 3600
    assert job["name"]["anyOf"][0]["pattern"] == "^[^\\u0000]*$"
    params = openapi["paths"]["/api/v1/tasks"]["get"]["parameters"]
    offset = next(p for p in params if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 2**31 - 1
