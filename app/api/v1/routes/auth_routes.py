from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, status

from app.api.deps import (
    AccessTokensDep,
    ClientAddressDep,
    DatabaseDep,
    MailerDep,
    SessionDep,
    SettingsDep,
)
from app.api.responses import BODY, errors
from app.api.routing import StrictJSONRoute
from app.schemas.auth import (
    LoginForm,
    Message,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenPair,
)
from app.services import auth as auth_service

router = APIRouter(
    prefix="/auth", tags=["auth"], route_class=StrictJSONRoute, responses=errors(BODY)
)


@router.post("/login", responses=errors(401, 429))
async def login(
    db: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    tokens: AccessTokensDep,
    address: ClientAddressDep,
    form: Annotated[LoginForm, Form()],
) -> TokenPair:
    """Log in with email (as `username`) and password. Failed logins are throttled per
    account and per client address: past the limit, 429 with `Retry-After`."""
    return await auth_service.login(
        db, database, settings, tokens, form.username, form.password, address=address
    )


@router.post("/refresh", responses=errors(401))
async def refresh(
    db: SessionDep, settings: SettingsDep, tokens: AccessTokensDep, body: RefreshRequest
) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token stops working (a
    repeat within `REFRESH_REUSE_GRACE_SECONDS` gets a pair of its own; a later one ends
    the login)."""
    return await auth_service.refresh(db, settings, tokens, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(db: SessionDep, body: RefreshRequest) -> None:
    """End the login that this refresh token belongs to."""
    await auth_service.logout(db, body.refresh_token)


@router.post("/password-reset/request", status_code=status.HTTP_202_ACCEPTED, responses=errors(429))
async def request_password_reset(
    db: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    mailer: MailerDep,
    body: PasswordResetRequest,
) -> Message:
    """Email a reset link. The answer is the same whether or not the email is known;
    past `PASSWORD_RESET_MAX_PER_EMAIL` requests for one email, 429 with `Retry-After`."""
    await auth_service.request_password_reset(db, database, settings, mailer, body.email)
    return Message(detail="If the account exists, a reset link has been sent")


@router.post("/password-reset/confirm")
async def confirm_password_reset(db: SessionDep, body: PasswordResetConfirm) -> Message:
    """Set a new password with a reset token; every existing login ends."""
    await auth_service.confirm_password_reset(db, body.token, body.new_password)
    return Message(detail="Password updated")
