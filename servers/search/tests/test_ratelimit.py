"""Rate-limit headers, the per-second limiter and the monthly quota guard, on a fake clock."""

from __future__ import annotations

import pytest

from patchbay_search.ratelimit import Quota, RateHeaders, RateLimiter, parse_rate_headers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_brave_headers() -> None:
    headers = {
        "x-ratelimit-limit": "1, 15000",
        "x-ratelimit-policy": "1;w=1, 15000;w=2592000",
        "x-ratelimit-remaining": "0, 14000",
        "x-ratelimit-reset": "1, 1419704",
    }
    parsed = parse_rate_headers(headers)
    assert parsed == RateHeaders(1.0, 0, 1.0, 15000, 14000, 1419704.0)


def test_parse_orders_windows_by_policy_and_tolerates_junk() -> None:
    parsed = parse_rate_headers(
        {
            "x-ratelimit-limit": "15000, 20",
            "x-ratelimit-policy": "15000;w=2592000, 20;w=1",
            "x-ratelimit-remaining": "9, 3",
        }
    )
    assert parsed.per_second_limit == 20 and parsed.monthly_limit == 15000
    assert parsed.per_second_remaining == 3 and parsed.monthly_remaining == 9
    assert parse_rate_headers({"x-ratelimit-limit": "lots"}) == RateHeaders()
    assert parse_rate_headers({}) == RateHeaders()


def test_limiter_spaces_requests_and_learns_the_plan() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert limiter.rate == 1.0  # the Free plan until the API says otherwise
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(1.02)
    assert limiter.reserve() == pytest.approx(2.04)
    limiter.learn(RateHeaders(per_second_limit=50))
    assert limiter.rate == 50
    clock.now += 10
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(1.02 / 50)


def test_fixed_rate_is_not_overridden_and_pause_holds_everyone() -> None:
    clock = Clock()
    limiter = RateLimiter(5, clock=clock)
    limiter.learn(RateHeaders(per_second_limit=50))
    assert limiter.rate == 5
    limiter.pause(3)
    assert limiter.reserve() == pytest.approx(3)


@pytest.mark.anyio
async def test_acquire_waits_for_the_slot() -> None:
    limiter = RateLimiter(20)
    assert await limiter.acquire() == 0
    waited = await limiter.acquire()
    assert 0 < waited <= 1.02 / 20 + 0.01


def test_quota_guard() -> None:
    clock = Clock()
    quota = Quota(clock=clock)
    quota.record(RateHeaders(monthly_limit=2000, monthly_remaining=5, monthly_reset=100))
    assert quota.exhausted_for() is None and quota.remaining == 5
    quota.record(RateHeaders(monthly_remaining=0, monthly_reset=100))
    assert quota.exhausted_for() == pytest.approx(100)
    clock.now += 101
    assert quota.exhausted_for() is None
