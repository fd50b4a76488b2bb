from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.schemas.types import SecretString, ShortString, String

PASSWORD_MIN_LENGTH = 8


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"


class LoginForm(BaseModel):
    """OAuth2's password grant form (RFC 6749, section 4.3); `username` is the email."""

    grant_type: Literal["password"] | None = None
    username: Annotated[String, Field(min_length=1, max_length=320)]
    password: Annotated[SecretString, Field(min_length=1)]
    scope: Annotated[String, Field(max_length=1000)] = ""
    client_id: ShortString | None = None
    client_secret: SecretString | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[SecretString, Field(min_length=1)]


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[SecretString, Field(min_length=1)]
    new_password: Annotated[String, Field(min_length=PASSWORD_MIN_LENGTH, max_length=128)]


class Message(BaseModel):
    detail: str
