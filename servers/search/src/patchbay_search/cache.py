"""A small time-bounded LRU cache for identical API requests.

A model often repeats a search within a conversation (or two tools ask the same thing); answering from
memory saves a request from the plan's quota and a second of rate-limit wait. Entries expire after `ttl`
seconds so results never go stale for long.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["TtlCache"]


class TtlCache:
    """At most `size` entries, each kept `ttl` seconds; `size == 0` or `ttl == 0` turns caching off."""

    def __init__(self, size: int, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """Whether anything is kept at all."""
        return self.size > 0 and self.ttl > 0

    def get(self, key: Hashable) -> Any | None:
        """The live value for `key`, or None."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep `value` for `ttl` seconds, evicting the least recently used entry when full."""
        if not self.enabled:
            return
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
