"""Reddit apps: a user's own OAuth clients for their bot configs. Secrets are encrypted
with Fernet (authenticated encryption from `cryptography`) under the deployment's key,
and decrypted only to ask Reddit for a token."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, Invalid, NotFound
from app.crud import reddit_app as reddit_app_crud
from app.models.reddit_app import RedditApp
from app.models.user import User
from app.schemas.reddit_app import RedditAppCreate, RedditAppUpdate
from app.services import instance_secret as secret_service
from app.services.scraping.reddit_client import (
    CREDENTIALS_MISSING,
    CREDENTIALS_MISSING_REASON,
    RedditCredentials,
    RedditError,
)

SECRET_UNREADABLE = (
    "The Reddit app's secret cannot be decrypted with this deployment's key: "
    "SECRETS_ENCRYPTION_KEY changed, or the stored value was altered; set the secret again"
)
SECRET_UNREADABLE_REASON = "The Reddit app's secret must be set again"


async def get_accessible(
    db: AsyncSession, user: User, reddit_app_id: int, *, for_update: bool = False
) -> RedditApp:
    """The app if `user` owns it or is a superuser; anyone else's is "not found"."""
    app = await reddit_app_crud.get(db, reddit_app_id, for_update=for_update)
    if app is None or not user.may_see(app.owner_id):
        raise NotFound("Reddit app not found")
    return app


async def list_apps(
    db: AsyncSession, user: User, *, limit: int, offset: int
) -> tuple[Sequence[RedditApp], int]:
    return await reddit_app_crud.list_page(
        db, owner_id=user.visible_owner_id, limit=limit, offset=offset
    )


async def create_app(
    db: AsyncSession, settings: Settings, user: User, data: RedditAppCreate
) -> RedditApp:
    key = await secret_service.encryption_key(db, settings)
    return await reddit_app_crud.create(
        db,
        owner_id=user.id,
        name=data.name,
        client_id=data.client_id,
        user_agent=data.user_agent,
        encrypted_secret=key.encrypt(data.client_secret.encode()).decode(),
    )


async def update_app(
    db: AsyncSession, settings: Settings, app: RedditApp, data: RedditAppUpdate
) -> RedditApp:
    values = data.model_dump(exclude_unset=True)
    secret = values.pop("client_secret", None)
    if secret is not None:
        key = await secret_service.encryption_key(db, settings)
        values["encrypted_secret"] = key.encrypt(secret.encode()).decode()
    return await reddit_app_crud.update(db, app, **values)


async def delete_app(db: AsyncSession, app: RedditApp) -> None:
    in_use = await reddit_app_crud.configs_using(db, app.id)
    if in_use:
        raise Conflict(
            f"The Reddit app is used by {in_use} bot config(s); give them another app "
            "(reddit_app_id) or delete them first"
        )
    await reddit_app_crud.delete_by_id(db, app.id)


async def check_usable(db: AsyncSession, owner_id: int, reddit_app_id: int) -> None:
    """A bot config may use only its owner's apps (a superuser editing someone's config
    cannot give it their own)."""
    app = await reddit_app_crud.get(db, reddit_app_id)
    if app is None or app.owner_id != owner_id:
        raise Invalid(
            f"Reddit app {reddit_app_id} does not exist or is not the bot config owner's",
            field="reddit_app_id",
        )


async def credentials(
    db: AsyncSession, settings: Settings, reddit_app_id: int | None
) -> RedditCredentials:
    """What a scrape signs in with: the config's app, or REDDIT_CLIENT_ID's. Raises
    `RedditError` when there is none or its secret cannot be read."""
    if reddit_app_id is None:
        return RedditCredentials.from_settings(settings)
    app = await reddit_app_crud.get(db, reddit_app_id)
    if app is None:
        raise RedditError(CREDENTIALS_MISSING, reason=CREDENTIALS_MISSING_REASON)
    key = await secret_service.encryption_key(db, settings)
    try:
        secret = key.decrypt(app.encrypted_secret.encode()).decode()
    except InvalidToken:
        raise RedditError(SECRET_UNREADABLE, reason=SECRET_UNREADABLE_REASON) from None
    return RedditCredentials(
        app_key=str(app.id),
        client_id=app.client_id,
        client_secret=secret,
        user_agent=app.user_agent,
    )
