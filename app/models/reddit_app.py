from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, utcnow


class RedditApp(Base):
    """A user's Reddit OAuth client ("script" or "web" app at reddit.com/prefs/apps),
    which their bot configs scrape with. The secret is stored encrypted (Fernet, see
    `app.services.reddit_app`) and never leaves the server."""

    __tablename__ = "reddit_apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(100))
    encrypted_secret: Mapped[str] = mapped_column(Text)
    user_agent: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def has_secret(self) -> bool:
        return bool(self.encrypted_secret)
