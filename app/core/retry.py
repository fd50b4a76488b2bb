"""One retry policy for calls to outside services: a bounded number of attempts with
exponential backoff, built on tenacity. A caller that knows better how long to wait
(a `Retry-After` header) says so through `wait_hint`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

T = TypeVar("T")


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff_seconds: float,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[int, str, float], None] | None = None,
    describe: Callable[[BaseException], str] = str,
    wait_hint: Callable[[BaseException], float | None] | None = None,
) -> T:
    """`call()` until it returns, up to `attempts` times, waiting `backoff_seconds`,
    then twice that, and so on between attempts (or `wait_hint(exc)` when it gives a
    time). Raises the last exception when every attempt failed. `on_retry(attempt,
    problem, delay)` is called before each wait."""
    backoff = wait_exponential(multiplier=backoff_seconds, exp_base=2, min=0, max=float("inf"))

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if wait_hint is not None and exc is not None:
            hinted = wait_hint(exc)
            if hinted is not None:
                return hinted
        # tenacity's exponential wait is multiplier * 2 ** (attempt - 1).
        return float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None or state.next_action is None:
            return
        exc = state.outcome.exception()
        problem = describe(exc) if exc is not None else ""
        on_retry(state.attempt_number, problem, state.next_action.sleep)

    controller = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
    result: T = await controller(call)
    return result
