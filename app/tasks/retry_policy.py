"""`RetryPolicy`: a job's retries of a slot whose run did not succeed, and the wait
before each. Plain data: the API checks it, the job store keeps it in the job's kwargs
and the leader's run path reads it back."""

from __future__ import annotations

import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

RetryOn = Literal["failed", "timeout", "interrupted"]
MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 7 * 24 * 3600


def _every_outcome() -> list[RetryOn]:
    return ["failed", "timeout", "interrupted"]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: Annotated[int, Field(strict=True, ge=1, le=MAX_ATTEMPTS)] = 1
    backoff_seconds: Annotated[float, Field(ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)] = 10
    backoff_max_seconds: Annotated[
        float, Field(ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)
    ] = 3600
    jitter: Annotated[bool, Field(strict=True)] = True
    on: Annotated[list[RetryOn], Field(min_length=1, max_length=3)] = Field(
        default_factory=_every_outcome
    )

    def retries(self, status: str, attempt: int) -> bool:
        """Whether a run that ended `status` on `attempt` gets another attempt."""
        return attempt < self.max_attempts and status in self.on

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after `attempt` failed: the backoff doubled per attempt, at
        most the maximum; with jitter, a random part of it, so that many jobs failing
        together do not retry together."""
        delay = min(self.backoff_seconds * float(2 ** (attempt - 1)), self.backoff_max_seconds)
        if self.jitter:
            return random.uniform(delay / 2, delay)
        return delay


def stored_policy(value: object) -> RetryPolicy | None:
    """The policy kept in a job's kwargs (None: no retries)."""
    if not isinstance(value, dict):
        return None
    return RetryPolicy.model_validate(value)
