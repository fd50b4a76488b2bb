from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, str_enum


class ThrottleScope(enum.StrEnum):
    LOGIN_ACCOUNT = "login_account"
    LOGIN_ADDRESS = "login_address"
    PASSWORD_RESET = "password_reset"
    API_KEY_ADDRESS = "api_key_address"


class ThrottleCounter(Base):
    """Attempts of one kind for one key (an account's email, a client address) in a
    fixed window. The key is stored as its SHA-256: the emails people try need not
    exist, and are nobody's business."""

    __tablename__ = "throttle_counters"

    scope: Mapped[ThrottleScope] = mapped_column(str_enum(ThrottleScope), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
