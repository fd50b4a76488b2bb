"""The error statuses an operation declares in the OpenAPI schema, in one place: routes
pass `responses=errors(...)` with the statuses they really answer."""

from __future__ import annotations

from typing import Any

from app.schemas.common import ErrorResponse, ValidationErrorResponse

_DESCRIPTIONS = {
    400: "The request body could not be read",
    401: "Not authenticated, or the token is invalid or expired",
    403: "Authenticated, but not allowed",
    404: "No such resource (or not yours)",
    409: "Conflicts with the current state",
    413: "The request body is larger than MAX_REQUEST_BODY_BYTES",
    422: "Invalid input: each refused field with the reason",
    429: "Too many attempts; retry after the Retry-After header's seconds",
    503: "The scheduler leader or the database is not available",
}

# What an operation with a request body may answer on top of its own statuses.
BODY = (400, 413, 422)
# A signed-in user's access token is required (an API key is refused with 403).
AUTHENTICATED = (401, 403)
# A bearer token (or, where the route takes them, an API key) with the role the route
# needs; wrong keys are throttled per address.
ROLE = (401, 403, 429)


def errors(*statuses: int | tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    """`errors(*ROLE, 404, 409)` or `errors(ROLE, 404)`: the OpenAPI
    `responses` entries for these statuses, each with its body's schema."""
    flat: set[int] = set()
    for status in statuses:
        flat.update(status if isinstance(status, tuple) else (status,))
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(flat):
        # A 400 may name fields too (a wrong `current_password`), as a 422 does.
        model = ValidationErrorResponse if status in (400, 422) else ErrorResponse
        entry: dict[str, Any] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer"},
                }
            }
        declared[status] = entry
    return declared
