"""API keys, for admins: every admin sees and revokes every user's keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import Admin, IdPath, LimitQuery, OffsetQuery, SessionDep
from app.api.responses import BODY, ROLE, errors
from app.api.routing import StrictJSONRoute
from app.schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.schemas.common import Page
from app.services import api_key as api_key_service

router = APIRouter(
    prefix="/api-keys", tags=["api-keys"], route_class=StrictJSONRoute, responses=errors(ROLE)
)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(BODY))
async def create_api_key(db: SessionDep, me: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    """Make a key that acts as you with `role` (never above yours, now or later). The
    answer holds the key itself, this once; send it as `Authorization: Bearer <key>`.
    Only a signed-in admin makes keys, not a key (403)."""
    return await api_key_service.create_key(db, me, body)


@router.get("", responses=errors(422))
async def list_api_keys(
    db: SessionDep,
    _: Admin,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Page[ApiKeyPublic]:
    """Every user's keys, newest first, without the keys themselves."""
    return await api_key_service.list_keys(db, limit=limit, offset=offset)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def revoke_api_key(db: SessionDep, _: Admin, key_id: IdPath) -> None:
    """Revoke a key: refused from the next request on. Revoking it again changes nothing."""
    await api_key_service.revoke_key(db, key_id)
