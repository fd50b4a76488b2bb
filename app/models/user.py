from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, str_enum, utcnow


class Role(enum.StrEnum):
    """What a user may do in the task system, each role all the one before it may:
    a viewer reads, an operator also pauses, resumes and runs jobs, an admin also
    creates, changes and deletes them and manages users and API keys."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: a bot owner, with no part in the task system. A superuser is an admin
    # whatever this says.
    role: Mapped[Role | None] = mapped_column(str_enum(Role))
    # Carried by every access token as `ver`; a bump ends all of them at once (a
    # password change, a reset, a deactivation, a demotion).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def task_role(self) -> Role | None:
        """The role the user acts with: a superuser's is admin."""
        return Role.ADMIN if self.is_superuser else self.role

    def may_see(self, owner_id: int) -> bool:
        """Whether what `owner_id` owns (bot configs and what hangs off them, Reddit apps)
        is the user's to see: their own, and anyone's for a superuser."""
        return self.is_superuser or owner_id == self.id

    @property
    def visible_owner_id(self) -> int | None:
        """The owner the user's listings are narrowed to: the user, or no one (None, all
        owners) for a superuser."""
        return None if self.is_superuser else self.id
