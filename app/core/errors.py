"""Typed application errors. One handler in `app.main` renders them as `{"detail": ...}`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# A validation error list as the API shows it is cut to this many entries, and each of
# its texts to this many characters: a 1 MiB body of bad values must not come back as
# a response many times that size.
MAX_SHOWN_ERRORS = 50
MAX_SHOWN_TEXT = 300


class AppError(Exception):
    status_code = 500
    headers: dict[str, str] | None = None
    # The request boundary rolls back on errors, unless the error says that what was
    # written before it is part of the answer (a revoked token family, say).
    keep_changes = False

    def __init__(self, detail: Any = None) -> None:
        self.detail = detail if detail is not None else self.default_detail()
        super().__init__(str(self.detail))

    def default_detail(self) -> str:
        return "Internal error"


class NotFound(AppError):
    status_code = 404

    def default_detail(self) -> str:
        return "Not found"


class Conflict(AppError):
    status_code = 409

    def default_detail(self) -> str:
        return "Conflict"


class Invalid(AppError):
    """Input that passed the schema but breaks a rule we only know at run time."""

    status_code = 422

    def __init__(self, detail: Any = None, *, field: str | None = None) -> None:
        if field is not None and isinstance(detail, str):
            detail = [{"loc": ["body", *field.split(".")], "msg": detail, "type": "value_error"}]
        super().__init__(detail)


class BadRequest(Invalid):
    """Well-formed input that is wrong, such as a password that does not match."""

    status_code = 400


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}

    def default_detail(self) -> str:
        return "Not authenticated"


class Forbidden(AppError):
    status_code = 403

    def default_detail(self) -> str:
        return "Not enough privileges"


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, detail: Any = None, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_seconds)}

    def default_detail(self) -> str:
        return "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503

    def default_detail(self) -> str:
        return "Service unavailable"


def _shown_text(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_SHOWN_TEXT else text[: MAX_SHOWN_TEXT - 1] + "…"


def _shown_value(value: object) -> object:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return _shown_text(value)


def shown_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors as a 422 body shows them: where, why and the kind of error, but
    never the refused `input`. It may be a password or a token (under any field name:
    a task's params are free-form), or megabytes long, and the client sent it anyway.
    Every value is made JSON-encodable (a NaN or bytes input must not turn a 422 into a
    500)."""
    shown: list[dict[str, Any]] = []
    for error in errors[:MAX_SHOWN_ERRORS]:
        entry: dict[str, Any] = {
            "loc": [
                part if isinstance(part, int) and not isinstance(part, bool) else _shown_text(part)
                for part in error.get("loc", ())
            ],
            "msg": _shown_text(error.get("msg", "")),
            "type": _shown_text(error.get("type", "value_error")),
        }
        job_id = error.get("job_id")
        if isinstance(job_id, str):
            # An import's error names the job it is about (see services/task_transfer.py).
            entry["job_id"] = _shown_text(job_id)
        ctx = error.get("ctx")
        if isinstance(ctx, dict) and ctx:
            entry["ctx"] = {str(key): _shown_value(value) for key, value in ctx.items()}
        shown.append(entry)
    return shown
