"""Retries for idempotent calls, and deadlines for every external call.

Backoff is exponential with full jitter (a random wait between 0 and the exponential cap), as in the AWS
architecture note, and a server's `Retry-After` wins when it says how long to wait. tenacity provides the
loop; stamina would be simpler but has no full jitter and no hook for a server-given wait.

A call that is not idempotent is never retried: after a timeout we cannot know whether it took effect.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from patchbay_common import telemetry
from patchbay_common.errors import UserError

__all__ = ["DeadlineExceeded", "RetryableError", "parse_retry_after", "retry_async", "with_deadline"]

T = TypeVar("T")


class RetryableError(Exception):
    """A transient failure worth another try, with the wait the remote side asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    *,
    idempotent: bool,
    attempts: int = 4,
    initial_wait: float = 0.25,
    max_wait: float = 8.0,
    retry_on: tuple[type[BaseException], ...] = (RetryableError,),
    total_timeout: float | None = 60.0,
    max_retry_after: float = 30.0,
) -> T:
    """Run `operation`, retrying transient failures when it is idempotent.

    Waits are full-jitter exponential (`random(0, min(max_wait, initial_wait * 2**n))`), except that a
    `RetryableError.retry_after` (from `Retry-After`) is honoured as given; when it asks for longer than
    `max_retry_after`, the error is raised at once rather than holding the tool call.
    """
    if not idempotent or attempts <= 1:
        return await operation()
    import tenacity  # imported on first use: most servers never retry at start-up

    jitter = tenacity.wait_random_exponential(multiplier=initial_wait, max=max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return error.retry_after
        return float(jitter(state))

    def should_retry(state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if not isinstance(error, retry_on):
            return False
        wait_for = getattr(error, "retry_after", None)
        return wait_for is None or wait_for <= max_retry_after

    stop: Any = tenacity.stop_after_attempt(attempts)
    if total_timeout is not None:
        stop = stop | tenacity.stop_after_delay(total_timeout)

    async def before_sleep(state: tenacity.RetryCallState) -> None:
        from patchbay_common.notify import log_to_client

        error = state.outcome.exception() if state.outcome else None
        waiting = state.next_action.sleep if state.next_action else 0.0
        if telemetry.enabled:
            limited = isinstance(error, RetryableError) and error.retry_after is not None
            telemetry.record_retry_wait(waiting, "rate_limit" if limited else "retry")
        await log_to_client(
            "info",
            f"retrying after a transient failure ({error}); waiting {waiting:.1f} s",
            attempt=state.attempt_number,
            wait_seconds=round(waiting, 2),
        )

    retrying = tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=should_retry,
        reraise=True,
        sleep=anyio.sleep,
        before_sleep=before_sleep,
    )

    async def attempt() -> T:  # tenacity only awaits a coroutine function's result, not a lambda's
        return await operation()

    return await retrying(attempt)


class DeadlineExceeded(UserError):
    """An upstream call did not answer within its deadline (a timeout, told apart in metrics)."""


async def with_deadline(operation: Awaitable[T], seconds: float, what: str) -> T:
    """Await `operation`, failing with a clear `UserError` after `seconds`."""
    with anyio.move_on_after(seconds) as scope:
        return await operation
    if scope.cancelled_caught:
        raise DeadlineExceeded(
            f"{what} did not answer within {seconds:g} s.",
            hint="Try again later, or ask for less (a narrower query, a smaller page).",
        )
    raise AssertionError("unreachable")  # pragma: no cover
