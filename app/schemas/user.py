from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool

from app.models.user import Role
from app.schemas.auth import PASSWORD_MIN_LENGTH
from app.schemas.types import ShortString

ROLE_DESCRIPTION = (
    "The user's role in the task system: viewer, operator or admin; null for a bot owner "
    "(a superuser is an admin whatever this says)."
)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=128)
    full_name: ShortString | None = None
    is_active: StrictBool = True
    is_superuser: StrictBool = False
    role: Role | None = Field(default=None, description=ROLE_DESCRIPTION)


class UserUpdateMe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    full_name: ShortString | None = None
    password: str | None = Field(default=None, min_length=PASSWORD_MIN_LENGTH, max_length=128)
    current_password: str | None = Field(
        default=None,
        max_length=128,
        description="Your own password: required to change your own email or password.",
    )


class UserUpdate(UserUpdateMe):
    is_active: StrictBool | None = None
    is_superuser: StrictBool | None = None
    role: Role | None = Field(default=None, description=ROLE_DESCRIPTION)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool
    role: Role | None
    created_at: datetime
    updated_at: datetime
