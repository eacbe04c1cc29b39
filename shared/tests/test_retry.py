"""Retries: idempotent only, full jitter, Retry-After honoured; deadlines that fire."""

from __future__ import annotations

import time

import anyio
import pytest

from patchbay_common.errors import UserError
from patchbay_common.retry import RetryableError, parse_retry_after, retry_async, with_deadline

pytestmark = pytest.mark.anyio


async def test_idempotent_operation_is_retried_until_success() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RetryableError("503")
        return "ok"

    assert await retry_async(flaky, idempotent=True, initial_wait=0.001) == "ok"
    assert calls == 3


async def test_non_idempotent_operation_is_never_retried() -> None:
    calls = 0

    async def write() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError("timeout")

    with pytest.raises(RetryableError):
        await retry_async(write, idempotent=False)
    assert calls == 1


async def test_gives_up_after_attempts_and_reraises() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError("still down")

    with pytest.raises(RetryableError, match="still down"):
        await retry_async(down, idempotent=True, attempts=3, initial_wait=0.001)
    assert calls == 3


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        await retry_async(broken, idempotent=True)
    assert calls == 1


async def test_retry_after_is_honoured() -> None:
    stamps: list[float] = []

    async def limited() -> str:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            raise RetryableError("429", retry_after=0.3)
        return "ok"

    await retry_async(limited, idempotent=True, initial_wait=0.001, max_wait=0.01)
    assert stamps[1] - stamps[0] >= 0.28


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


async def test_with_deadline_fires_with_a_clear_message() -> None:
    with pytest.raises(UserError, match=r"did not answer within 0\.05 s"):
        await with_deadline(anyio.sleep(5), 0.05, "The slow API")
    assert await with_deadline(_value(), 1, "x") == 42


async def _value() -> int:
    return 42


async def test_retry_after_longer_than_allowed_fails_at_once() -> None:
    calls = 0

    async def limited() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError("429 quota exhausted", retry_after=3600)

    started = time.monotonic()
    with pytest.raises(RetryableError, match="quota"):
        await retry_async(limited, idempotent=True, max_retry_after=5)
    assert calls == 1 and time.monotonic() - started < 1


async def test_a_lambda_returning_a_coroutine_is_awaited() -> None:
    calls = 0

    async def fetch(value: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetryableError("once")
        return value

    assert await retry_async(lambda: fetch(7), idempotent=True, initial_wait=0.001) == 7
