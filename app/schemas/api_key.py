from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.models.user import Role

NAME_MAX_LENGTH = 100


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Printable: it is shown in listings and in the audit log.
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Role = Field(description="At most your own role; the key never acts above it.")
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (in the future, within 10 years); "
        "null: it works until revoked.",
    )

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None


class ApiKeyPublic(BaseModel):
    """A key without its secret: only its first characters (`prefix`) are kept."""

    id: int
    name: str
    role: Role
    prefix: str
    user_id: int
    user_email: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself, shown this once; it cannot be read again.")
