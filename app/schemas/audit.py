from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.models.audit import AuditAction, AuditSource
from app.schemas.types import String

REASON_MAX_LENGTH = 500

# Why a change was made, in the operator's words; kept in the audit log.
Reason = Annotated[String, Field(min_length=1, max_length=REASON_MAX_LENGTH)]


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_id: int | None
    actor_email: str
    # The API key the actor used, if any (its name is kept after the key is gone).
    api_key_id: int | None = None
    api_key_name: str | None = None
    action: AuditAction
    source: AuditSource
    job_id: str
    bot_config_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
