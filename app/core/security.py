"""Password hashing, JWT access tokens and opaque one-time tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ALGORITHM = "HS256"
# Access tokens verified lately, kept with their claims until they expire: a client
# sends the same token with every request, and checking its signature and claims again
# costs more than the rest of a small request. What the token stands for (its user, its
# version) is still looked up on every request.
VERIFIED_TOKENS_KEPT = 1024


class PasswordHasher:
    """Argon2id, in threads of its own: a hash takes tens of milliseconds of CPU, which
    on the event loop would stall every other request. At most `concurrency` hashes run
    at once; the others wait their turn without holding the loop.

    Only new hashes use the configured cost: a stored hash carries its own."""

    def __init__(self, time_cost: int, memory_kib: int, concurrency: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="password-hash")
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._hash.hash, password
        )

    async def verify(self, password: str, hashed: str | None) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._verify, password, hashed
        )

    def _verify(self, password: str, hashed: str | None) -> bool:
        if hashed is None:
            # A login for an unknown email costs as much as one with a wrong password.
            if self._dummy_hash is None:
                self._dummy_hash = self._hash.hash("not-a-real-password")
            self._hash.verify(password, self._dummy_hash)
            return False
        return self._hash.verify(password, hashed)

    def close(self) -> None:
        self._threads.shutdown(wait=False)


# argon2-cffi's defaults (3 passes over 64 MiB) until the settings say otherwise.
_hasher = PasswordHasher(time_cost=3, memory_kib=65536, concurrency=2)


def configure_password_hashing(time_cost: int, memory_kib: int, concurrency: int = 2) -> None:
    global _hasher
    previous, _hasher = _hasher, PasswordHasher(time_cost, memory_kib, concurrency)
    previous.close()


async def hash_password(password: str) -> str:
    return await _hasher.hash(password)


async def verify_password(password: str, hashed: str | None) -> bool:
    return await _hasher.verify(password, hashed)


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    # The user's `token_version` when the token was issued: a bump ends the token.
    version: int
    # The refresh-token family (the login) the token was issued for.
    family_id: str


@dataclass(frozen=True)
class AccessTokens:
    """Signs access tokens with `key` and accepts those signed with it or with one of
    `previous_keys` (the keys before a rotation). The algorithm is pinned."""

    key: str
    previous_keys: tuple[str, ...] = ()
    lifetime: timedelta = timedelta(minutes=15)
    # token -> (its claims, its expiry as a Unix time); the oldest entry goes first.
    _verified: dict[str, tuple[AccessClaims, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def issue(self, claims: AccessClaims) -> str:
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "sub": str(claims.user_id),
            "type": "access",
            "ver": claims.version,
            "fam": claims.family_id,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)

    def verify(self, token: str) -> AccessClaims | None:
        """The claims of a valid access token, or None."""
        known = self._verified.get(token)
        if known is not None:
            claims, expires = known
            if time.time() < expires:
                return claims
            del self._verified[token]
            return None
        claims_found = self._verify(token)
        if claims_found is not None:
            claims, expires = claims_found
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (claims, expires)
            return claims
        return None

    def _verify(self, token: str) -> tuple[AccessClaims, float] | None:
        payload: dict[str, Any] | None = None
        for key in (self.key, *self.previous_keys):
            try:
                payload = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    options={"require": ["exp", "sub", "type", "ver", "fam"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError:
                return None
        if payload is None or payload.get("type") != "access":
            return None
        user_id, version, family_id = payload["sub"], payload["ver"], payload["fam"]
        # bool is an int to Python, not a version.
        if type(version) is not int or not isinstance(family_id, str):
            return None
        try:
            claims = AccessClaims(user_id=int(user_id), version=version, family_id=family_id)
        except (TypeError, ValueError):
            return None
        # PyJWT has checked `exp`: the token is valid while the time is before it.
        return claims, float(payload["exp"])


def new_secret_key() -> str:
    """A signing key: 384 random bits, printable."""
    return secrets.token_urlsafe(48)


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """Refresh and reset tokens and API keys are stored as SHA-256: they are long random
    strings, so a fast hash is enough and lets us look them up by value."""
    return hashlib.sha256(token.encode()).hexdigest()


# Marks an API key, so that the bearer header can carry either a key or an access token
# (a JWT never starts with it: its first segment is base64 of `{"`).
API_KEY_PREFIX = "rbk_"
# How much of a key is kept in clear and shown, to tell keys apart: the prefix and 8
# random characters.
API_KEY_SHOWN_LENGTH = len(API_KEY_PREFIX) + 8


def new_api_key() -> str:
    """A key with 256 random bits."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def is_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)
