from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.schemas.auth import PASSWORD_MIN_LENGTH
from app.schemas.types import ShortString


class UserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=128)
    full_name: ShortString | None = None
    is_active: bool = True
    is_superuser: bool = False


class UserUpdateMe(BaseModel):
    email: EmailStr | None = None
    full_name: ShortString | None = None
    password: str | None = Field(default=None, min_length=PASSWORD_MIN_LENGTH, max_length=128)


class UserUpdate(UserUpdateMe):
    is_active: bool | None = None
    is_superuser: bool | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime
