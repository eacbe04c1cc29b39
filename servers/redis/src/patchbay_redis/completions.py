"""Completions for the key and channel resource templates (registered in server.py; no MCP here).

Keys come from a bounded SCAN through the guarded `Store` (the same policy and ACL user as the `list`
tool, so nothing the tools cannot list is offered): `MATCH <typed prefix, glob-escaped>*`, at most
`MAX_KEYS` names or `SECONDS` of walking, whichever comes first, so a completion stays fast on a large
key space and never blocks Redis. When more than a page of names match, they are grouped by the next
`:`-separated segment after what was typed (`user:` -> `user:1:`, `user:2:`), so the user can narrow
down. Channels come from `PUBSUB CHANNELS <prefix>*` (the active ones, at most `MAX_KEYS`). Names that are
not UTF-8 or that carry control, invisible or bidirectional characters are not offered.
"""

from __future__ import annotations

import re
import time

from patchbay_common.untrusted import sanitize
from patchbay_redis.connection import Store

__all__ = ["MAX_KEYS", "SECONDS", "channels", "keys"]

MAX_KEYS = 2_000
"""Most names one completion collects."""

SECONDS = 0.03
"""Most time one key completion spends walking SCAN (one more call may end after it)."""

_PAGE = 100  # the layer's page of values: more than this are grouped by segment
_STEP = 1_000  # COUNT of each SCAN call
_GLOB = re.compile(r"([*?\[\]\\])")
_LONGEST = 512


def _escaped(prefix: str) -> str:
    return _GLOB.sub(r"\\\1", prefix[:_LONGEST]) + "*"


def _names(raw: list[object]) -> list[str]:
    names = []
    for item in raw:
        try:
            name = item.decode("utf-8") if isinstance(item, bytes) else str(item)
        except UnicodeDecodeError:
            continue
        if len(name) <= _LONGEST and name.isprintable() and sanitize(name) == name:
            names.append(name)
    return names


def _grouped(prefix: str, names: list[str], separator: str = ":") -> list[str]:
    """`names`, or when more than a page, each cut after the next `separator` past `prefix`."""
    if len(names) <= _PAGE:
        return sorted(names)
    groups = set()
    for name in names:
        cut = name.find(separator, len(prefix))
        groups.add(name if cut < 0 else name[: cut + 1])
    return sorted(groups)


async def keys(store: Store, prefix: str) -> list[str]:
    """Key names starting with `prefix` (grouped by segment when many), from a bounded SCAN."""
    pattern = _escaped(prefix)
    found: set[str] = set()
    nodes = await store.primaries()
    started = time.monotonic()
    for node in nodes:  # every primary of a cluster gets at least one SCAN call; the time budget is shared
        cursor = "0"
        while True:
            reply = await store.run_on(node, "SCAN", cursor, "MATCH", pattern, "COUNT", _STEP)
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            found.update(_names(list(reply[1])))
            if cursor == "0" or len(found) >= MAX_KEYS or time.monotonic() - started > SECONDS:
                break
        if len(found) >= MAX_KEYS:
            break
    return _grouped(prefix, list(found))


async def channels(store: Store, prefix: str) -> list[str]:
    """Active pub/sub channels starting with `prefix` (those this server watches are among them)."""
    replies = await store.run_everywhere("PUBSUB", "CHANNELS", _escaped(prefix))
    active = sorted({name for reply in replies for name in reply})[:MAX_KEYS]
    return _grouped(prefix, _names(active))
