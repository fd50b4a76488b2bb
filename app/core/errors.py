"""Typed application errors. One handler in `app.main` renders them as `{"detail": ...}`."""

from __future__ import annotations

from typing import Any


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
