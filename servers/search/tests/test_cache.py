"""The cache of identical requests: expiry, LRU eviction, off switch."""

from __future__ import annotations

from patchbay_search.cache import TtlCache


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire() -> None:
    clock = Clock()
    cache = TtlCache(10, 300, clock=clock)
    cache.put("a", {"x": 1})
    assert cache.get("a") == {"x": 1}
    clock.now = 299.9
    assert cache.get("a") == {"x": 1}
    clock.now = 300.0
    assert cache.get("a") is None
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (2, 1)


def test_least_recently_used_is_evicted() -> None:
    cache = TtlCache(2, 300)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3


def test_size_or_ttl_zero_turns_it_off() -> None:
    for cache in (TtlCache(0, 300), TtlCache(10, 0)):
        cache.put("a", 1)
        assert cache.get("a") is None
        assert not cache.enabled
