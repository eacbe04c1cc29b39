"""Helpers for the load tests of patchbay-redis: fill a database fast, and watch Redis and the server respond.

Importable by this unique name from any redis test module (nothing is imported from conftest).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import redis

FILL = """
local n, prefix, value = tonumber(ARGV[1]), ARGV[2], ARGV[3]
for i = 1, n do redis.call('SET', prefix .. i, value) end
return n
"""


def fill(r: redis.Redis, count: int, prefix: str = "k:", value: str = "x") -> None:
    """Create `count` string keys server-side (EVAL in batches: about 1 s for 1M keys, no round trips)."""
    for start in range(0, count, 100_000):  # batches, so Redis answers others between them
        r.eval(FILL, 0, min(100_000, count - start), f"{prefix}{start}:", value)


ZFILL = """
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do redis.call('ZADD', KEYS[1], i, 'member:' .. i) end
return 1
"""


def fill_zset(r: redis.Redis, key: str, count: int) -> None:
    """A sorted set of `count` members `member:<i>` with score i (EVAL in batches of 100k)."""
    for start in range(1, count + 1, 100_000):
        r.eval(ZFILL, 1, key, start, min(count, start + 99_999))


@dataclass
class Pinger:
    """PINGs Redis from its own thread (its own connection) and records the slowest answer."""

    port: int
    slowest: float = 0.0
    pings: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = redis.Redis(port=self.port, socket_timeout=30)
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.ping()
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.pings += 1
                time.sleep(0.005)
        finally:
            client.close()


@contextmanager
def pinging(port: int) -> Iterator[Pinger]:
    """A `Pinger` running for the length of the block."""
    pinger = Pinger(port)
    thread = threading.Thread(target=pinger.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.02)
        yield pinger
    finally:
        pinger._stop.set()
        thread.join(timeout=60)


async def while_running(
    heavy: Callable[[], Awaitable[Any]], small: Callable[[], Awaitable[Any]], *, every: float = 0.05
) -> tuple[Any, list[float], float]:
    """Run `heavy` and, until it ends, `small` again and again; return heavy's result, small's latencies
    (seconds each) and heavy's duration."""
    latencies: list[float] = []
    outcome: list[Any] = []
    finished = anyio.Event()
    started = time.perf_counter()

    async def run_heavy() -> None:
        try:
            outcome.append(await heavy())
        finally:
            outcome.append(time.perf_counter() - started)
            finished.set()

    async def run_small() -> None:
        await anyio.sleep(every)
        while not finished.is_set():
            begun = time.perf_counter()
            await small()
            latencies.append(time.perf_counter() - begun)
            await anyio.sleep(every)

    async with anyio.create_task_group() as group:
        group.start_soon(run_heavy)
        group.start_soon(run_small)
    return outcome[0], latencies, outcome[1]


@contextmanager
def python_memory() -> Iterator[list[int]]:
    """Trace Python allocations for the block; the list gets the peak (bytes above the start) at the end."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
