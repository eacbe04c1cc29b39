"""Stay within a Brave Search plan: space requests to its per-second limit, and stop at its monthly quota.

Brave answers every request with `X-RateLimit-Limit`, `-Policy`, `-Remaining` and `-Reset` headers, each a
comma-separated list with one entry per window (`1, 15000` = 1 per second, 15000 per month). The limiter
learns the per-second limit from them unless the operator fixed one, and the quota guard remembers when the
monthly window is used up, so no request is sent that the API would refuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

__all__ = ["Quota", "RateHeaders", "RateLimiter", "parse_rate_headers"]

FREE_PLAN_PER_SECOND = 1.0
_MARGIN = 1.02  # space requests 2% wider than the limit: arrival jitter must not cross the API's window


@dataclass(frozen=True)
class RateHeaders:
    """The rate-limit headers of one answer, per window (`per_second`, `per_month`); None when absent."""

    per_second_limit: float | None = None
    per_second_remaining: int | None = None
    per_second_reset: float | None = None
    monthly_limit: int | None = None
    monthly_remaining: int | None = None
    monthly_reset: float | None = None


def _numbers(value: str | None) -> list[float]:
    if not value:
        return []
    out: list[float] = []
    for part in value.split(","):
        try:
            out.append(float(part.strip().split(";")[0]))
        except ValueError:
            return []
    return out


def _windows(policy: str | None) -> list[float]:
    """Window lengths in seconds from `X-RateLimit-Policy` (`1;w=1, 15000;w=2592000`)."""
    windows: list[float] = []
    for part in (policy or "").split(","):
        seconds = None
        for item in part.split(";")[1:]:
            key, _, val = item.strip().partition("=")
            if key == "w":
                try:
                    seconds = float(val)
                except ValueError:
                    seconds = None
        if seconds is None:
            return []
        windows.append(seconds)
    return windows


def parse_rate_headers(headers: Mapping[str, str]) -> RateHeaders:
    """Read Brave's rate-limit headers (case-insensitive mapping); missing or odd values give None."""
    limits = _numbers(headers.get("x-ratelimit-limit"))
    remaining = _numbers(headers.get("x-ratelimit-remaining"))
    resets = _numbers(headers.get("x-ratelimit-reset"))
    windows = _windows(headers.get("x-ratelimit-policy"))
    second, month = 0, 1
    if windows and len(windows) == len(limits):  # find the windows by length when a policy names them
        second = min(range(len(windows)), key=lambda i: windows[i])
        month = max(range(len(windows)), key=lambda i: windows[i])

    def pick(values: list[float], index: int) -> float | None:
        return values[index] if index < len(values) and len(values) >= 2 else None

    per_second_limit = pick(limits, second)
    if per_second_limit is not None and windows and len(windows) == len(limits):
        per_second_limit /= windows[second]
    monthly_limit = pick(limits, month)
    per_second_remaining = pick(remaining, second)
    monthly_remaining = pick(remaining, month)
    return RateHeaders(
        per_second_limit=per_second_limit,
        per_second_remaining=None if per_second_remaining is None else int(per_second_remaining),
        per_second_reset=pick(resets, second),
        monthly_limit=None if monthly_limit is None else int(monthly_limit),
        monthly_remaining=None if monthly_remaining is None else int(monthly_remaining),
        monthly_reset=pick(resets, month),
    )


class RateLimiter:
    """Space request starts at least `1 / rate` seconds apart, shared by every tool call of the process.

    `fixed` is the operator's rate (requests per second); None means follow the plan's limit as the API's
    headers report it, starting at the Free plan's 1 per second. `pause(seconds)` holds every caller back,
    e.g. after a 429 said when the window resets.
    """

    def __init__(self, fixed: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.fixed = fixed
        self.rate = fixed if fixed else FREE_PLAN_PER_SECOND
        self._clock = clock
        self._next = 0.0

    @property
    def interval(self) -> float:
        """Seconds between two request starts."""
        return _MARGIN / self.rate

    def learn(self, headers: RateHeaders) -> None:
        """Adopt the plan's per-second limit from an answer's headers (unless the rate is fixed)."""
        if self.fixed is None and headers.per_second_limit and headers.per_second_limit > 0:
            self.rate = headers.per_second_limit

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` from now."""
        self._next = max(self._next, self._clock() + seconds)

    def reserve(self) -> float:
        """Take the next free slot; return how long the caller must wait for it (0 when it is free now)."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def acquire(self) -> float:
        """Wait for the next free slot; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await anyio.sleep(wait)
        return wait


class Quota:
    """Remembers that the monthly quota is used up, and until when, from the API's own headers."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.exhausted_until: float | None = None
        self.limit: int | None = None
        self.remaining: int | None = None

    def record(self, headers: RateHeaders) -> None:
        """Note what an answer says about the monthly window."""
        if headers.monthly_limit is not None:
            self.limit = headers.monthly_limit
        if headers.monthly_remaining is None:
            return
        self.remaining = headers.monthly_remaining
        if headers.monthly_remaining <= 0:
            self.exhausted_until = self._clock() + (headers.monthly_reset or 3600.0)
        else:
            self.exhausted_until = None

    def exhausted_for(self) -> float | None:
        """Seconds until the quota resets when it is used up; None when requests may be sent."""
        if self.exhausted_until is None:
            return None
        left = self.exhausted_until - self._clock()
        if left <= 0:
            self.exhausted_until = None
            return None
        return left
