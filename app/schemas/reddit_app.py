"""Reddit app payloads. The client secret goes in, never out: answers carry
`has_secret` instead."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schemas.types import SecretString, String

Name = Annotated[String, Field(min_length=1, max_length=100)]
ClientId = Annotated[String, Field(min_length=1, max_length=100)]
ClientSecret = Annotated[SecretString, Field(min_length=1)]
UserAgent = Annotated[String, Field(min_length=1, max_length=255)]


class RedditAppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    client_id: ClientId
    client_secret: ClientSecret
    user_agent: UserAgent


class RedditAppUpdate(BaseModel):
    """A partial change; a new `client_secret` replaces the stored one."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = None
    user_agent: UserAgent | None = None

    @field_validator("name", "client_id", "client_secret", "user_agent", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class RedditAppPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    name: str
    client_id: str
    user_agent: str
    has_secret: bool
    created_at: datetime
    updated_at: datetime
