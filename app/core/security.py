"""Password hashing, JWT access tokens and opaque one-time tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import Settings

ALGORITHM = "HS256"

# Argon2id with argon2-cffi's defaults (3 passes over 64 MiB) unless the settings say
# otherwise. Only new hashes use the configured cost: a stored hash carries its own.
_hasher = PasswordHash((Argon2Hasher(),))
_dummy_hash: str | None = None


def configure_password_hashing(time_cost: int, memory_kib: int) -> None:
    global _hasher, _dummy_hash
    _hasher = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))
    _dummy_hash = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    if hashed is None:
        # A login for an unknown email costs as much as one with a wrong password.
        global _dummy_hash
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash("not-a-real-password")
        _hasher.verify(password, _dummy_hash)
        return False
    return _hasher.verify(password, hashed)


def create_access_token(settings: Settings, user_id: int) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.SECRET_KEY, algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> int | None:
    """The user id of a valid access token, or None. The algorithm is pinned."""
    try:
        payload = jwt.decode(
            token,
            settings.SECRET_KEY,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "type"]},
        )
    except jwt.InvalidTokenError:
        return None
    if payload.get("type") != "access":
        return None
    try:
        return int(payload["sub"])
    except (TypeError, ValueError):
        return None


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """Refresh and reset tokens are stored as SHA-256: they are long random strings, so a
    fast hash is enough and lets us look them up by value."""
    return hashlib.sha256(token.encode()).hexdigest()
