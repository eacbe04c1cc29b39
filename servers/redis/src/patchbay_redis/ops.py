"""What each tool does to Redis, as plain async functions over a `Store` (no MCP here).

Every function returns a JSON-ready dict. Listings are bounded three ways: a row limit, a character
budget, and (for SCAN-style walks) a cap on round trips per call, so neither the model's context nor
Redis is ever flooded; whatever was cut is said in the result, with the cursor to continue.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from patchbay_common.errors import NotFound, UserError
from patchbay_common.limits import decode_cursor, encode_cursor, human_size
from patchbay_common.notify import Progress
from patchbay_redis.connection import Store
from patchbay_redis.values import ITEM_CHARS, Budget, decode_key, show

__all__ = [
    "SCAN_TIME_BUDGET",
    "get_value",
    "key_info",
    "list_keys",
]

SCAN_COUNT = 2_000
"""Most slots one SCAN call visits (under a millisecond of Redis time), so other clients are never blocked.

A listing starts with COUNT equal to its page size and doubles it while a sparse pattern matches little."""

SCAN_TIME_BUDGET = 0.5
"""Seconds one listing may spend walking a sparse key space before it returns what it has."""

MAX_SKIP = 10 * SCAN_COUNT
"""Most keys a `list` cursor may skip into one SCAN batch (a batch can hold a little more than COUNT)."""

MAX_PATTERN_CHARS = 1_024
"""Longest glob pattern sent to SCAN, HSCAN, SSCAN or PUBSUB CHANNELS."""

KEY_TYPES = ("string", "hash", "list", "set", "zset", "stream")
"""The type filters `list` accepts."""

_SCAN_CURSOR = re.compile(r"^[0-9]{1,20}$")

COLLECTION_READ_BYTES = 8_000_000
"""Bytes of collection elements (items, members, fields, entries) one call reads from Redis at most."""

FIELD_READ_BYTES = 1_000_000
"""Largest hash field value read by name; a bigger one is described by its size instead."""

Number = int | float


@asynccontextmanager
async def reporting(**options: Any) -> AsyncIterator[Progress]:
    """`Progress(**options)`, but an error raised inside comes out as itself.

    `Progress` runs its sender in a task group, which wraps whatever the body raises in an
    `ExceptionGroup`; callers here catch specific errors (a layer gap, worked around here).
    """
    try:
        async with Progress(**options) as progress:
            yield progress
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def _bad_cursor(why: str) -> UserError:
    return UserError(
        f"The cursor is not valid: {why}; nothing was sent to Redis.",
        hint="Pass next_cursor exactly as the previous result gave it, with the same pattern and type, "
        "or omit cursor to start over.",
    )


def _cursor_int(state: dict[str, Any], name: str, what: str, low: int, high: int) -> int | None:
    """An integer field of a decoded cursor, re-checked against this server's own limits (None if absent)."""
    if name not in state:
        return None
    value = state[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = json.dumps(value)[:40]
        raise _bad_cursor(f"its {what} {shown} is outside this server's limits ({low}-{high})")
    return value


def _scan_position(value: Any, what: str = "cursor") -> str:
    """A SCAN-family position: decimal digits below 2**64, as Redis itself gives them."""
    if not isinstance(value, str) or not _SCAN_CURSOR.match(value) or int(value) >= 2**64:
        raise _bad_cursor(f"its {what} {json.dumps(value)[:40]} is not a Redis scan position")
    return str(int(value))


def check_pattern(pattern: str) -> str:
    """A glob pattern within this server's limits."""
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
        raise UserError(
            f"The pattern is longer than {MAX_PATTERN_CHARS} characters; nothing was sent to Redis.",
            hint="Use a shorter glob, e.g. 'user:*'.",
        )
    return pattern


def check_limit(limit: int, what: str = "limit", high: int = 1000) -> int:
    """A page size within this server's limits."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= high:
        raise UserError(f"{what} must be between 1 and {high}, got {limit}.")
    return limit


def _list_cursor(
    cursor: str, pattern: str, type_: str | None, nodes: int = 1
) -> tuple[str, int, int | None, int]:
    """The SCAN position, skip, COUNT and node index a `list` cursor holds, re-checked against our limits.

    In a Redis Cluster one cursor covers every primary: `i` is the index of the primary being walked (in
    `Store.primaries` order) and `c` the SCAN position on it; a cursor naming a node the cluster no longer
    has is refused.

    The cursor is signed by `encode_cursor`, but it may be old, or come from a server with other limits, so
    nothing in it is trusted: a forged COUNT would make one SCAN walk the whole key space and block Redis.
    """
    state = decode_cursor(cursor)
    unknown = sorted(set(state) - {"c", "s", "p", "n", "t", "i"})
    if unknown:
        raise _bad_cursor(f"it holds fields this server does not make ({', '.join(unknown)[:80]})")
    if state.get("p") != pattern:
        raise UserError(
            "This cursor belongs to a listing with another pattern.",
            hint="Pass the same pattern as the call that returned the cursor, or omit the cursor.",
        )
    if state.get("t") != type_:
        raise UserError(
            "This cursor belongs to a listing with another type filter.",
            hint="Pass the same type as the call that returned the cursor, or omit the cursor.",
        )
    position = _scan_position(state.get("c", "0"), "scan position")
    skip = _cursor_int(state, "s", "skip", 0, MAX_SKIP) or 0
    count = _cursor_int(state, "n", "scan count", 1, SCAN_COUNT)
    node = _cursor_int(state, "i", "node index", 0, nodes - 1) or 0
    return position, skip, count, node


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _number(raw: Any) -> Number:
    value = float(_text(raw))
    return int(value) if value.is_integer() and "." not in _text(raw) else value


def _ttl(pttl: int) -> float | str | None:
    """PTTL as seconds, or None for no expiry (Redis answers -1), "missing" for no key (-2)."""
    if pttl == -1:
        return None
    if pttl == -2:
        return "missing"
    return round(pttl / 1000, 3)


def _item_chars(max_chars: int) -> int:
    """Characters one value (an item, a member, a field) may show in a page of `max_chars`."""
    return max(50, min(max_chars // 2, ITEM_CHARS))


def _cut_note(what: str, shown: int, total: int | None, how: str) -> str:
    of = f" of {total}" if total is not None else ""
    return f"{shown}{of} {what} shown; {how}"


# ------------------------------------------------------------------------------------------------ keys


async def list_keys(
    store: Store,
    pattern: str = "*",
    *,
    type_: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    max_chars: int = 25_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Keys matching a glob pattern, walked with SCAN (never KEYS), one bounded page at a time.

    With `progress`, each SCAN call counts one step (the message says how many keys were found); the walk
    stops when the call has ended (`progress.stopped`) and hands out a cursor for where it was. In a Redis
    Cluster the walk goes through every primary in turn under one cursor (node index + SCAN position).
    """
    check_limit(limit)
    check_pattern(pattern)
    if type_ is not None and type_ not in KEY_TYPES:
        raise UserError(f"type must be one of {', '.join(KEY_TYPES)}, got {type_!r}.")
    nodes = await store.primaries()
    scan_cursor, skip, resumed_count, node = (
        _list_cursor(cursor, pattern, type_, len(nodes)) if cursor else ("0", 0, None, 0)
    )
    budget = Budget(max_chars)
    keys: list[Any] = []
    started = time.monotonic()
    calls = 0
    next_state: dict[str, Any] | None = None
    # Resume with the COUNT that produced the batch being skipped into, so the skip lines up.
    base = min(SCAN_COUNT, max(limit, 100))
    count = resumed_count or base
    while True:
        args: list[Any] = ["SCAN", scan_cursor, "MATCH", pattern, "COUNT", count]
        if type_:
            args += ["TYPE", type_]
        reply = await store.run_on(nodes[node], *args)
        calls += 1
        new_cursor, batch = _text(reply[0]), list(reply[1])
        if progress is not None:
            progress.advance(
                message=f"scanning keys matching {pattern[:80]} ({len(keys) + len(batch)} found)"
            )
        batch = batch[skip:] if skip else batch
        for index, raw in enumerate(batch):
            name = decode_key(raw)
            if len(keys) >= limit or not budget.take(name):
                next_state = {"c": scan_cursor, "s": skip + index, "p": pattern, "n": count, "t": type_}
                break
            keys.append(name)
        if next_state is not None:
            break
        skip = 0
        scan_cursor = new_cursor
        # Widen the step only while a sparse pattern matches little; a dense one keeps short steps.
        count = min(SCAN_COUNT, count * 2) if len(batch) < base // 2 else base
        if scan_cursor == "0":
            if node + 1 >= len(nodes):
                break
            node += 1  # this primary is done: go on with the next one from its start
        stopped = progress is not None and progress.stopped.is_set()
        if len(keys) >= limit or time.monotonic() - started > SCAN_TIME_BUDGET or stopped:
            next_state = {"c": scan_cursor, "s": 0, "p": pattern, "t": type_}
            break
    result: dict[str, Any] = {"pattern": pattern, "keys": keys, "count": len(keys), "scan_calls": calls}
    if next_state is not None:
        if store.cluster:
            next_state["i"] = node
        result["next_cursor"] = encode_cursor(next_state)
        why = "page full" if keys else "time budget for this call used, no match yet"
        result["note"] = f"More keys may match ({why}); call again with cursor=next_cursor."
    return result


async def get_value(store: Store, key: str, *, limit: int = 100, max_chars: int = 25_000) -> dict[str, Any]:
    """A key's value whatever its type (string, hash, list, set, sorted set, stream, JSON), capped."""
    # One round trip for the common case (a string): the string reads fail harmlessly on other types.
    read_bytes = max_chars * 4
    kind_raw, pttl, size, raw = await store.pipeline(
        [["TYPE", key], ["PTTL", key], ["STRLEN", key], ["GETRANGE", key, 0, read_bytes - 1]]
    )
    kind = _text(kind_raw)
    if kind == "none":
        raise NotFound(f"Key not found: {json.dumps(key)}.", hint="Call list with a pattern to find keys.")
    result: dict[str, Any] = {"key": key, "type": kind, "ttl_seconds": _ttl(int(pttl))}
    budget = Budget(max_chars)
    item_chars = max(200, min(max_chars // 2, 2_000))
    if kind == "string":
        result["size_bytes"] = int(size)
        result["value"] = show(raw or b"", max_chars=max_chars)
        if int(size) > len(raw or b""):
            result["note"] = f"Only the first {len(raw)} of {int(size)} bytes were read."
    elif kind == "hash":
        total = int(await store.run("HLEN", key))
        fields, _ = await _scan_pairs(
            store, "HSCAN", key, "*", "0", await _affordable(store, key, total, limit)
        )
        shown = budget.keep(
            [[show(f, max_chars=item_chars), show(v, max_chars=item_chars)] for f, v in fields[:limit]]
        )
        result.update(length=total, fields=dict((_as_key(f), v) for f, v in shown))
        if len(shown) < total:
            result["note"] = _cut_note("fields", len(shown), total, "call hash_get for more.")
    elif kind == "list":
        total = int(await store.run("LLEN", key))
        items = await store.run("LRANGE", key, 0, await _affordable(store, key, total, limit) - 1)
        shown = budget.keep(show(v, max_chars=item_chars) for v in items)
        result.update(length=total, items=shown)
        if len(shown) < total:
            result["note"] = _cut_note("items", len(shown), total, "call list_range with start for more.")
    elif kind == "set":
        total = int(await store.run("SCARD", key))
        members, _ = await _scan_members(store, key, "*", "0", await _affordable(store, key, total, limit))
        shown = budget.keep(show(v, max_chars=item_chars) for v in members[:limit])
        result.update(length=total, members=shown)
        if len(shown) < total:
            result["note"] = _cut_note("members", len(shown), total, "call set_members for more.")
    elif kind == "zset":
        total = int(await store.run("ZCARD", key))
        wanted = await _affordable(store, key, total, limit)
        pairs = await store.run("ZRANGE", key, 0, wanted - 1, "WITHSCORES")
        shown = budget.keep(_score_pairs(pairs, item_chars))
        result.update(length=total, members=shown)
        if len(shown) < total:
            result["note"] = _cut_note("members", len(shown), total, "call zset_range for more.")
    elif kind == "stream":
        total = int(await store.run("XLEN", key))
        wanted = await _affordable(store, key, total, limit)
        entries = await store.run("XRANGE", key, "-", "+", "COUNT", wanted)
        shown = budget.keep(_entries(entries, item_chars))
        result.update(length=total, entries=shown)
        if len(shown) < total:
            result["note"] = _cut_note("entries", len(shown), total, "call stream_range for more.")
    elif kind == "ReJSON-RL":
        raw = await store.run("JSON.GET", key, "$")
        result["value"] = show(raw, max_chars=max_chars)
    else:
        result["note"] = f"Values of type {kind} are not shown by this server."
    return result


async def _affordable(store: Store, key: str, length: int, wanted: int) -> int:
    """How many of `wanted` elements one read may take, judged by the key's sampled memory per element.

    Redis returns whole elements (there is no range inside a list item or a set member), so a collection
    of huge elements is read a few at a time, and one whose elements are each over the read limit is not
    read at all. MEMORY USAGE samples a few elements (O(1)); when the ACL user may not run it, `wanted`.
    """
    if length <= 0:
        return wanted
    (usage,) = await store.pipeline([["MEMORY", "USAGE", key]])
    if not isinstance(usage, int) or isinstance(usage, bool) or usage <= 0:
        return wanted
    each = usage / length
    if each > COLLECTION_READ_BYTES:
        raise UserError(
            f"The elements of {json.dumps(key)} take about {human_size(each)} each; this server reads at "
            f"most {human_size(COLLECTION_READ_BYTES)} in one call, so none was read.",
            hint="Call key_info for its size and encoding; such values cannot be shown in a tool result.",
        )
    return max(1, min(wanted, int(COLLECTION_READ_BYTES // each)))


def _scan_step(limit: int) -> int:
    """COUNT for HSCAN/SSCAN: at least 100 slots per call, unless huge elements keep `limit` small."""
    return max(limit, 100) if limit >= 20 else limit


def _partial(item: Any, read: int, size: int) -> Any:
    """A shown value of which only the first `read` of `size` bytes were read."""
    if isinstance(item, str):
        return f"{item}...[cut: first {read} of {size} bytes read]"
    if isinstance(item, dict):
        return {**item, "size": size}
    return item


def _as_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _score_pairs(pairs: Sequence[Any], item_chars: int) -> list[list[Any]]:
    """ZRANGE WITHSCORES replies as [member, score] pairs (redis-py may already have paired them)."""
    if pairs and isinstance(pairs[0], list | tuple):
        return [[show(m, max_chars=item_chars), _number(s)] for m, s in pairs]
    return [[show(pairs[i], max_chars=item_chars), _number(pairs[i + 1])] for i in range(0, len(pairs), 2)]


def _entries(entries: Sequence[Any], item_chars: int) -> list[dict[str, Any]]:
    """Stream entries as {"id", "fields"} dicts."""
    shown = []
    for entry_id, fields in entries or []:
        if isinstance(fields, dict):
            pairs = list(fields.items())
        else:
            pairs = [(fields[i], fields[i + 1]) for i in range(0, len(fields or []), 2)]
        shown.append(
            {
                "id": _text(entry_id),
                "fields": {_as_key(show(f, max_chars=200)): show(v, max_chars=item_chars) for f, v in pairs},
            }
        )
    return shown


async def _scan_pairs(
    store: Store, command: str, key: str, pattern: str, cursor: str, limit: int
) -> tuple[list[tuple[Any, Any]], str]:
    """HSCAN until `limit` pairs or the end; returns the pairs and the next cursor ("0" at the end)."""
    pairs: list[tuple[Any, Any]] = []
    started = time.monotonic()
    while True:
        reply = await store.run(command, key, cursor, "MATCH", pattern, "COUNT", _scan_step(limit))
        cursor = _text(reply[0])
        data = reply[1]
        if isinstance(data, dict):
            pairs.extend(data.items())
        else:
            pairs.extend((data[i], data[i + 1]) for i in range(0, len(data), 2))
        if cursor == "0" or len(pairs) >= limit or time.monotonic() - started > SCAN_TIME_BUDGET:
            return pairs, cursor


async def _scan_members(
    store: Store, key: str, pattern: str, cursor: str, limit: int
) -> tuple[list[Any], str]:
    """SSCAN until `limit` members or the end; returns the members and the next cursor."""
    members: list[Any] = []
    started = time.monotonic()
    while True:
        reply = await store.run("SSCAN", key, cursor, "MATCH", pattern, "COUNT", _scan_step(limit))
        cursor = _text(reply[0])
        members.extend(reply[1])
        if cursor == "0" or len(members) >= limit or time.monotonic() - started > SCAN_TIME_BUDGET:
            return members, cursor


async def key_info(store: Store, keys: Sequence[str], *, max_chars: int = 25_000) -> dict[str, Any]:
    """Type, TTL, memory use, encoding and length of each key, in one round trip."""
    if not keys or len(keys) > 100:
        raise UserError(f"Give between 1 and 100 keys, got {len(keys)}.")
    commands: list[list[Any]] = []
    for key in keys:
        commands += [["TYPE", key], ["PTTL", key], ["MEMORY", "USAGE", key], ["OBJECT", "ENCODING", key]]
    replies = await store.pipeline(commands)
    types = [_text(replies[i * 4]) for i in range(len(keys))]
    lengths: list[list[Any]] = []
    length_of = {
        "string": "STRLEN",
        "hash": "HLEN",
        "list": "LLEN",
        "set": "SCARD",
        "zset": "ZCARD",
        "stream": "XLEN",
    }
    for key, kind in zip(keys, types, strict=True):
        if kind in length_of:
            lengths.append([length_of[kind], key])
    length_replies = iter(await store.pipeline(lengths)) if lengths else iter(())
    info = []
    for index, key in enumerate(keys):
        kind = types[index]
        if kind == "none":
            info.append({"key": key, "exists": False})
            continue
        pttl, memory, encoding = replies[index * 4 + 1 : index * 4 + 4]
        entry: dict[str, Any] = {"key": key, "exists": True, "type": kind, "ttl_seconds": _ttl(int(pttl))}
        if not isinstance(memory, Exception) and memory is not None:
            entry["memory_bytes"] = int(memory)
        if not isinstance(encoding, Exception) and encoding is not None:
            entry["encoding"] = _text(encoding)
        if kind in length_of:
            length = next(length_replies)
            if not isinstance(length, Exception):
                entry["length"] = int(length)
        info.append(entry)
    kept = Budget(max_chars).keep(info)
    result: dict[str, Any] = {"keys": kept}
    if len(kept) < len(info):
        result["note"] = _cut_note("keys", len(kept), len(info), "ask for fewer keys (character limit).")
    return result


async def set_value(
    store: Store,
    key: str,
    value: str,
    *,
    expire_seconds: int | None = None,
    only_if: Literal["absent", "present"] | None = None,
) -> dict[str, Any]:
    """SET a string value, optionally with an expiry and a NX/XX condition."""
    args: list[Any] = ["SET", key, value]
    if expire_seconds is not None:
        if expire_seconds < 1:
            raise UserError(f"expire_seconds must be 1 or more, got {expire_seconds}.")
        args += ["EX", expire_seconds]
    if only_if == "absent":
        args.append("NX")
    elif only_if == "present":
        args.append("XX")
    reply = await store.run(*args)
    if reply is None or reply is False:
        state = "already exists" if only_if == "absent" else "does not exist"
        return {"key": key, "set": False, "note": f"Not set: the key {state} (only_if={only_if})."}
    return {"key": key, "set": True, "expire_seconds": expire_seconds}


async def delete_keys(store: Store, keys: Sequence[str]) -> dict[str, Any]:
    """UNLINK keys (memory is freed in the background, so large values never block Redis)."""
    if not keys or len(keys) > 1000:
        raise UserError(f"Give between 1 and 1000 keys, got {len(keys)}.")
    deleted = int(await store.run("UNLINK", *keys))
    return {"requested": len(keys), "deleted": deleted}


async def expire(store: Store, key: str, seconds: int | None) -> dict[str, Any]:
    """Set a key's time to live in seconds, or remove it (seconds=None: PERSIST)."""
    if seconds is None:
        changed = int(await store.run("PERSIST", key))
    else:
        if seconds < 1:
            raise UserError(
                f"seconds must be 1 or more, got {seconds}.", hint="Use delete to remove a key now."
            )
        changed = int(await store.run("EXPIRE", key, seconds))
    if not changed and not int(await store.run("EXISTS", key)):
        raise NotFound(f"Key not found: {json.dumps(key)}.", hint="Call list to find the key.")
    return {"key": key, "ttl_seconds": seconds, "changed": bool(changed)}


async def rename(store: Store, key: str, new_key: str, *, overwrite: bool = False) -> dict[str, Any]:
    """RENAMENX (or RENAME when overwriting is asked for)."""
    if not int(await store.run("EXISTS", key)):
        raise NotFound(f"Key not found: {json.dumps(key)}.", hint="Call list to find the key.")
    if overwrite:
        await store.run("RENAME", key, new_key)
        return {"key": key, "new_key": new_key, "renamed": True}
    if not int(await store.run("RENAMENX", key, new_key)):
        raise UserError(
            f"Not renamed: {json.dumps(new_key)} already exists.",
            hint="Pick another name, or pass overwrite=true to replace it.",
        )
    return {"key": key, "new_key": new_key, "renamed": True}


# --------------------------------------------------------------------------------------------- strings


async def mget(store: Store, keys: Sequence[str], *, max_chars: int = 25_000) -> dict[str, Any]:
    """Several string values in one round trip (missing keys and non-strings show as null)."""
    if not keys or len(keys) > 100:
        raise UserError(f"Give between 1 and 100 keys, got {len(keys)}.")
    # GETRANGE, not MGET: a key may hold hundreds of megabytes, and only a window of it is ever shown.
    item_chars = max(200, max_chars // max(1, len(keys)))
    commands: list[list[Any]] = []
    for key in keys:
        commands += [["TYPE", key], ["STRLEN", key], ["GETRANGE", key, 0, item_chars * 4 - 1]]
    replies = await store.pipeline(commands)
    values = [replies[i * 3 + 2] if _text(replies[i * 3]) == "string" else None for i in range(len(keys))]
    sizes = [replies[i * 3 + 1] for i in range(len(keys))]
    budget = Budget(max_chars)
    shown: dict[str, Any] = {}
    for key, raw, size in zip(keys, values, sizes, strict=True):
        item = show(raw, max_chars=item_chars)
        if raw is not None and isinstance(size, int) and size > len(raw):
            item = _partial(item, len(raw), size)
        if not budget.take([key, item]):
            break
        shown[key] = item
    result: dict[str, Any] = {"values": shown}
    if len(shown) < len(keys):
        result["note"] = f"{len(shown)} of {len(keys)} values shown (character limit); ask for fewer keys."
    return result


async def incr(store: Store, key: str, by: float) -> dict[str, Any]:
    """INCRBY (whole numbers) or INCRBYFLOAT; not retried, since running it twice would count twice."""
    if float(by).is_integer() and not isinstance(by, float):
        value = await store.run("INCRBY", key, int(by), idempotent=False)
    else:
        value = await store.run("INCRBYFLOAT", key, repr(float(by)), idempotent=False)
    return {"key": key, "value": _number(value)}


# -------------------------------------------------------------------------------------------- hashes


async def hash_get(
    store: Store,
    key: str,
    *,
    fields: Sequence[str] | None = None,
    pattern: str = "*",
    cursor: str | None = None,
    limit: int = 100,
    max_chars: int = 25_000,
) -> dict[str, Any]:
    """Named fields (HMGET), or fields matching a pattern one page at a time (HSCAN)."""
    check_limit(limit)
    check_pattern(pattern)
    cursor = _scan_position(cursor) if cursor else None
    await _expect_type(store, key, "hash")
    budget = Budget(max_chars)
    if fields:
        if len(fields) > 1000:
            raise UserError(f"Give at most 1000 fields, got {len(fields)}.")
        # HSTRLEN first (O(1) each): a field of hundreds of megabytes is described, not read.
        sizes = await store.pipeline([["HSTRLEN", key, f] for f in fields])
        small = [
            f for f, n in zip(fields, sizes, strict=True) if isinstance(n, int) and n <= FIELD_READ_BYTES
        ]
        values = dict(zip(small, await store.run("HMGET", key, *small), strict=True)) if small else {}
        shown: dict[str, Any] = {}
        for name, size in zip(fields, sizes, strict=True):
            if name in values or not isinstance(size, int) or size == 0:
                shown[name] = show(values.get(name), max_chars=_item_chars(max_chars))
            else:
                shown[name] = {"size": size, "note": f"not read: over {FIELD_READ_BYTES} bytes"}
        return {"key": key, "fields": dict(budget.keep(shown.items())), "missing_are_null": True}
    limit = await _affordable(store, key, int(await store.run("HLEN", key)), limit)
    pairs, nxt = await _scan_pairs(store, "HSCAN", key, pattern, cursor or "0", limit)
    each = _item_chars(max_chars)
    kept = budget.keep([[show(f, max_chars=each), show(v, max_chars=each)] for f, v in pairs])
    result: dict[str, Any] = {"key": key, "fields": {_as_key(f): v for f, v in kept}}
    if len(kept) < len(pairs):
        # HSCAN cannot resume inside the batch it returned: a cursor would give this page again.
        result["note"] = (
            f"Character limit reached after {len(kept)} of {len(pairs)} fields of this batch; "
            "ask for named fields or a narrower pattern."
        )
    elif nxt != "0":
        result["next_cursor"] = nxt
        result["note"] = "More fields may match; call again with cursor=next_cursor."
    return result


async def hash_set(store: Store, key: str, fields: dict[str, str]) -> dict[str, Any]:
    """HSET several fields at once."""
    if not fields:
        raise UserError("Give at least one field to set.")
    await _expect_type(store, key, "hash", missing_ok=True)
    args: list[Any] = ["HSET", key]
    for name, value in fields.items():
        args += [name, value]
    added = int(await store.run(*args))
    return {"key": key, "fields_set": len(fields), "fields_added": added}


async def hash_delete(store: Store, key: str, fields: Sequence[str]) -> dict[str, Any]:
    """HDEL fields; returns how many existed."""
    if not fields:
        raise UserError("Give at least one field to delete.")
    removed = int(await store.run("HDEL", key, *fields))
    return {"key": key, "requested": len(fields), "deleted": removed}


# --------------------------------------------------------------------------------------------- lists


async def list_range(
    store: Store, key: str, *, start: int = 0, count: int = 100, max_chars: int = 25_000
) -> dict[str, Any]:
    """LRANGE from `start` (negative counts from the end), at most `count` items."""
    if count < 1 or count > 1000:
        raise UserError(f"count must be between 1 and 1000, got {count}.")
    await _expect_type(store, key, "list")
    total = int(await store.run("LLEN", key))
    count = await _affordable(store, key, total, count)
    stop = start + count - 1 if start >= 0 or start + count - 1 < 0 else -1
    items = await store.run("LRANGE", key, start, stop)
    kept = Budget(max_chars).keep(show(v, max_chars=_item_chars(max_chars)) for v in items)
    first = start if start >= 0 else max(0, total + start)
    result: dict[str, Any] = {"key": key, "length": total, "start": first, "items": kept}
    if first + len(kept) < total:
        result["next_start"] = first + len(kept)
    return result


async def list_push(
    store: Store, key: str, values: Sequence[str], *, end: Literal["left", "right"] = "right"
) -> dict[str, Any]:
    """LPUSH or RPUSH values; not retried (a repeat would add them twice)."""
    if not values:
        raise UserError("Give at least one value to push.")
    await _expect_type(store, key, "list", missing_ok=True)
    length = await store.run("LPUSH" if end == "left" else "RPUSH", key, *values, idempotent=False)
    return {"key": key, "pushed": len(values), "length": int(length)}


async def list_pop(
    store: Store,
    key: str,
    *,
    end: Literal["left", "right"] = "left",
    count: int = 1,
    max_chars: int = 25_000,
) -> dict[str, Any]:
    """LPOP or RPOP up to `count` items; those that fit `max_chars` are shown, the note counts the rest."""
    if count < 1 or count > 1000:
        raise UserError(f"count must be between 1 and 1000, got {count}.")
    await _expect_type(store, key, "list")
    items = await store.run("LPOP" if end == "left" else "RPOP", key, count, idempotent=False)
    popped = [show(v, max_chars=_item_chars(max_chars)) for v in items or []]
    kept = Budget(max_chars).keep(popped)
    result: dict[str, Any] = {"key": key, "popped": kept}
    if len(kept) < len(popped):
        result["note"] = (
            f"{len(popped)} items were popped; the first {len(kept)} are shown (character limit). "
            "The others were removed from the list as well."
        )
    return result


# ---------------------------------------------------------------------------------------------- sets


async def set_members(
    store: Store,
    key: str,
    *,
    check: Sequence[str] | None = None,
    pattern: str = "*",
    cursor: str | None = None,
    limit: int = 100,
    max_chars: int = 25_000,
) -> dict[str, Any]:
    """Whether given values are members (SMISMEMBER), or members matching a pattern (SSCAN)."""
    check_limit(limit)
    check_pattern(pattern)
    cursor = _scan_position(cursor) if cursor else None
    await _expect_type(store, key, "set")
    if check:
        if len(check) > 1000:
            raise UserError(f"Give at most 1000 values to check, got {len(check)}.")
        flags = await store.run("SMISMEMBER", key, *check)
        answers = Budget(max_chars).keep(
            [value, bool(flag)] for value, flag in zip(check, flags, strict=True)
        )
        checked: dict[str, Any] = {"key": key, "is_member": dict(answers)}
        if len(answers) < len(check):
            checked["note"] = _cut_note("answers", len(answers), len(check), "check fewer values at a time.")
        return checked
    total = int(await store.run("SCARD", key))
    limit = await _affordable(store, key, total, limit)
    members, nxt = await _scan_members(store, key, pattern, cursor or "0", limit)
    kept = Budget(max_chars).keep(show(v, max_chars=_item_chars(max_chars)) for v in members)
    result: dict[str, Any] = {"key": key, "length": total, "members": kept}
    if len(kept) < len(members):
        # SSCAN cannot resume inside the batch it returned: the next cursor would skip the members not shown.
        result["note"] = (
            f"Character limit reached after {len(kept)} of {len(members)} members of this batch; "
            "use a narrower pattern or test values with check."
        )
    elif nxt != "0":
        result["next_cursor"] = nxt
        result["note"] = "More members may match; call again with cursor=next_cursor."
    return result


async def set_add(store: Store, key: str, members: Sequence[str]) -> dict[str, Any]:
    """SADD members; returns how many were new."""
    if not members:
        raise UserError("Give at least one member to add.")
    await _expect_type(store, key, "set", missing_ok=True)
    return {"key": key, "added": int(await store.run("SADD", key, *members))}


async def set_remove(store: Store, key: str, members: Sequence[str]) -> dict[str, Any]:
    """SREM members; returns how many were there."""
    if not members:
        raise UserError("Give at least one member to remove.")
    return {"key": key, "removed": int(await store.run("SREM", key, *members))}


# -------------------------------------------------------------------------------------- sorted sets


async def zset_range(
    store: Store,
    key: str,
    *,
    by: Literal["rank", "score"] = "rank",
    start: str = "0",
    stop: str = "-1",
    reverse: bool = False,
    offset: int = 0,
    limit: int = 100,
    max_chars: int = 25_000,
) -> dict[str, Any]:
    """ZRANGE by rank or by score (bounds like "-inf", "(5"), with scores, at most `limit` members."""
    if limit < 1 or limit > 1000:
        raise UserError(f"limit must be between 1 and 1000, got {limit}.")
    await _expect_type(store, key, "zset")
    limit = await _affordable(store, key, int(await store.run("ZCARD", key)), limit)
    args: list[Any] = ["ZRANGE", key, start, stop]
    if by == "score":
        args.append("BYSCORE")
    if reverse:
        args.append("REV")
    if by == "score":
        args += ["LIMIT", offset, limit + 1]
        pairs = await store.run(*args, "WITHSCORES")
    else:
        # Ask Redis for this page's ranks only: ZRANGE 0 -1 on a big sorted set would block Redis and
        # load every member here.
        first, last = await _rank_window(store, key, start, stop, offset, limit + 1)
        pairs = [] if first > last else await store.run(*args[:2], first, last, *args[4:], "WITHSCORES")
    members = _score_pairs(pairs, _item_chars(max_chars))
    more = len(members) > limit
    kept = Budget(max_chars).keep(members[:limit])
    result: dict[str, Any] = {"key": key, "length": int(await store.run("ZCARD", key)), "members": kept}
    if more or len(kept) < len(members[:limit]):
        result["next_offset"] = offset + len(kept)
    return result


async def _rank_window(
    store: Store, key: str, start: str, stop: str, offset: int, count: int
) -> tuple[int, int]:
    """The absolute ranks (first, last) of `count` members from `offset` within ranks start..stop."""
    try:
        low, high = int(start), int(stop)
    except ValueError:
        raise UserError(
            f"With by=rank, start and stop are whole ranks (got {start!r} and {stop!r}).",
            hint="Pass ranks such as 0 and -1, or by='score' for score bounds.",
        ) from None
    size = int(await store.run("ZCARD", key))
    low = low + size if low < 0 else low
    high = high + size if high < 0 else high
    low, high = max(0, low), min(size - 1, high)
    first = low + offset
    return first, min(high, first + count - 1)


async def zset_add(store: Store, key: str, members: dict[str, float]) -> dict[str, Any]:
    """ZADD members with their scores; returns how many were new."""
    if not members:
        raise UserError("Give at least one member with its score.")
    await _expect_type(store, key, "zset", missing_ok=True)
    args: list[Any] = ["ZADD", key]
    for member, score in members.items():
        if math.isnan(score):
            raise UserError(f"The score of {json.dumps(member)} is not a number.")
        args += [repr(float(score)), member]
    return {"key": key, "added": int(await store.run(*args))}


async def zset_remove(store: Store, key: str, members: Sequence[str]) -> dict[str, Any]:
    """ZREM members; returns how many were there."""
    if not members:
        raise UserError("Give at least one member to remove.")
    return {"key": key, "removed": int(await store.run("ZREM", key, *members))}


# ------------------------------------------------------------------------------------------- streams


async def stream_range(
    store: Store,
    key: str,
    *,
    start: str = "-",
    end: str = "+",
    count: int = 50,
    reverse: bool = False,
    max_chars: int = 25_000,
) -> dict[str, Any]:
    """XRANGE (or XREVRANGE) between two ids, at most `count` entries."""
    if count < 1 or count > 1000:
        raise UserError(f"count must be between 1 and 1000, got {count}.")
    await _expect_type(store, key, "stream")
    count = await _affordable(store, key, int(await store.run("XLEN", key)), count)
    if reverse:
        entries = await store.run("XREVRANGE", key, end, start, "COUNT", count + 1)
    else:
        entries = await store.run("XRANGE", key, start, end, "COUNT", count + 1)
    shown = _entries(entries, _item_chars(max_chars))
    more = len(shown) > count
    kept = Budget(max_chars).keep(shown[:count])
    result: dict[str, Any] = {"key": key, "length": int(await store.run("XLEN", key)), "entries": kept}
    if more or len(kept) < len(shown[:count]):
        last = kept[-1]["id"] if kept else (start if not reverse else end)
        side = "end" if reverse else "start"
        result["note"] = f'More entries; call again with {side}="({last}" to continue after the last one.'
    return result


async def stream_groups(store: Store, key: str, *, max_chars: int = 25_000) -> dict[str, Any]:
    """Consumer groups of a stream with their consumers and pending counts (read-only inspection)."""
    await _expect_type(store, key, "stream")
    groups = await store.run("XINFO", "GROUPS", key)
    shown = []
    for group in groups or []:
        info = _pairs_dict(group)
        raw = group.items() if isinstance(group, dict) else zip(group[::2], group[1::2], strict=True)
        name = next((value for field, value in raw if _text(field) == "name"), None)
        consumers = await store.run("XINFO", "CONSUMERS", key, name)
        info["consumers"] = [_pairs_dict(c) for c in consumers or []][:100]
        shown.append(info)
    kept = Budget(max_chars).keep(shown)
    result: dict[str, Any] = {"key": key, "groups": kept}
    if len(kept) < len(shown):
        result["note"] = _cut_note("groups", len(kept), len(shown), "the rest did not fit (character limit).")
    return result


def _pairs_dict(raw: Any) -> dict[str, Any]:
    items = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    out: dict[str, Any] = {}
    for name, value in items:
        if isinstance(value, bytes | str):
            value = show(value, max_chars=500)  # group and consumer names are whatever clients chose
        out[_text(name)] = value
    return out


async def stream_add(
    store: Store, key: str, fields: dict[str, str], *, entry_id: str = "*", max_length: int | None = None
) -> dict[str, Any]:
    """XADD one entry (optionally trimming to about `max_length` entries); not retried."""
    if not fields:
        raise UserError("Give at least one field for the entry.")
    await _expect_type(store, key, "stream", missing_ok=True)
    args: list[Any] = ["XADD", key]
    if max_length is not None:
        args += ["MAXLEN", "~", max_length]
    args.append(entry_id)
    for name, value in fields.items():
        args += [name, value]
    new_id = await store.run(*args, idempotent=False)
    return {"key": key, "id": _text(new_id)}


async def stream_ack(store: Store, key: str, group: str, ids: Sequence[str]) -> dict[str, Any]:
    """XACK entries for a consumer group; returns how many were pending."""
    if not ids:
        raise UserError("Give at least one entry id to acknowledge.")
    return {"key": key, "group": group, "acknowledged": int(await store.run("XACK", key, group, *ids))}


# ----------------------------------------------------------------------------------------- modules


async def json_get(store: Store, key: str, path: str = "$", *, max_chars: int = 25_000) -> dict[str, Any]:
    """JSON.GET a path of a RedisJSON document."""
    raw = await store.run("JSON.GET", key, path)
    if raw is None:
        raise NotFound(f"Key not found: {json.dumps(key)}.", hint="Call list to find the key.")
    return {"key": key, "path": path, "value": show(raw, max_chars=max_chars)}


async def json_set(store: Store, key: str, path: str, value: str) -> dict[str, Any]:
    """JSON.SET a path to a JSON text (validated here first)."""
    try:
        json.loads(value)
    except ValueError as exc:
        raise UserError(
            f"value is not valid JSON ({exc}).", hint="Pass a JSON text, e.g. '\"text\"' or '{}'."
        ) from None
    await store.run("JSON.SET", key, path, value)
    return {"key": key, "path": path, "set": True}


async def search_indexes(store: Store, *, max_chars: int = 25_000) -> dict[str, Any]:
    """The search indexes (FT._LIST) with their document counts."""
    names = [_text(n) for n in await store.run("FT._LIST")]
    indexes = []
    for name in names[:100]:
        info = _pairs_dict(await store.run("FT.INFO", name))
        indexes.append({"name": name, "num_docs": info.get("num_docs")})
    kept = Budget(max_chars).keep(indexes)
    result: dict[str, Any] = {"indexes": kept}
    if len(kept) < len(names):
        result["note"] = _cut_note("indexes", len(kept), len(names), "the rest did not fit.")
    return result


async def search(
    store: Store, index: str, query: str, *, offset: int = 0, limit: int = 10, max_chars: int = 25_000
) -> dict[str, Any]:
    """FT.SEARCH with paging."""
    reply = await store.run("FT.SEARCH", index, query, "LIMIT", offset, limit)
    total, rest = int(reply[0]), reply[1:]
    docs = []
    for i in range(0, len(rest), 2):
        fields = rest[i + 1] if i + 1 < len(rest) else []
        docs.append(
            {
                "id": _text(rest[i]),
                "fields": {
                    _text(k): show(v, max_chars=_item_chars(max_chars))
                    for k, v in zip(fields[::2], fields[1::2], strict=True)
                },
            }
        )
    kept = Budget(max_chars).keep(docs)
    result: dict[str, Any] = {"index": index, "total": total, "documents": kept}
    if offset + len(kept) < total:
        result["next_offset"] = offset + len(kept)
    return result


# ---------------------------------------------------------------------------------------------- server


async def server_info(store: Store, section: str = "default", *, max_chars: int = 25_000) -> dict[str, Any]:
    """INFO for one section (server, clients, memory, stats, keyspace, ...) and DBSIZE."""
    info, size = await store.pipeline([["INFO", section], ["DBSIZE"]])
    if isinstance(info, Exception):
        if str(info).startswith("NOPERM") or "no permissions" in str(info):
            raise store.no_permission(f"INFO {section}", str(info))
        raise UserError(f"Redis refused INFO {section}: {info}.")
    text = _text(info) if isinstance(info, bytes | str) else None
    parsed = _parse_info(text) if text is not None else {k: v for k, v in dict(info).items()}
    kept = dict(Budget(max_chars).keep(parsed.items()))
    result: dict[str, Any] = {
        "section": section,
        "dbsize": int(size) if not isinstance(size, Exception) else None,
        "info": kept,
    }
    if len(kept) < len(parsed):
        result["note"] = _cut_note("fields", len(kept), len(parsed), "ask for one section, e.g. memory.")
    return result


def _parse_info(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        out[name] = value
    return out


async def slowlog(store: Store, count: int = 20, *, max_chars: int = 25_000) -> dict[str, Any]:
    """The slowest recent commands (SLOWLOG GET), arguments cut short."""
    if count < 1 or count > 128:
        raise UserError(f"count must be between 1 and 128, got {count}.")
    entries = await store.run("SLOWLOG", "GET", count)
    shown = []
    for entry in entries or []:
        if isinstance(entry, dict):
            command = entry.get("command")
            args = [command] if command else []
            shown.append(
                {
                    "id": entry.get("id"),
                    "start_time": entry.get("start_time"),
                    "duration_us": entry.get("duration"),
                    "command": [show(a, max_chars=100) for a in args],
                }
            )
        else:
            shown.append(
                {
                    "id": entry[0],
                    "start_time": entry[1],
                    "duration_us": entry[2],
                    "command": [show(a, max_chars=100) for a in entry[3][:10]],
                }
            )
    kept = Budget(max_chars).keep(shown)
    result: dict[str, Any] = {"entries": kept}
    if len(kept) < len(shown):
        result["note"] = _cut_note("entries", len(kept), len(shown), "ask for a smaller count.")
    return result


_CLIENT_FIELDS = (
    "id",
    "name",
    "user",
    "db",
    "age",
    "idle",
    "flags",
    "cmd",
    "sub",
    "psub",
    "multi",
    "tot-mem",
)


async def client_list(store: Store, *, max_chars: int = 25_000) -> dict[str, Any]:
    """Connected clients without their addresses or file descriptors (CLIENT LIST, redacted)."""
    raw = await store.run("CLIENT", "LIST")
    rows = (
        raw
        if isinstance(raw, list)
        else [dict(p.split("=", 1) for p in line.split() if "=" in p) for line in _text(raw).splitlines()]
    )
    clients = [{k: _text(row[k]) for k in _CLIENT_FIELDS if k in row} for row in rows]
    kept = Budget(max_chars).keep(clients[:200])
    result: dict[str, Any] = {
        "count": len(clients),
        "clients": kept,
        "redacted": "addr, laddr and fd are not shown",
    }
    if len(kept) < len(clients):
        result["note"] = _cut_note("clients", len(kept), len(clients), "the rest did not fit.")
    return result


async def latency(store: Store, *, max_chars: int = 25_000) -> dict[str, Any]:
    """Latency monitor events (LATENCY LATEST) and Redis's own LATENCY DOCTOR report."""
    latest, doctor = await store.pipeline([["LATENCY", "LATEST"], ["LATENCY", "DOCTOR"]])
    events = []
    for row in latest if isinstance(latest, list) else []:
        events.append({"event": _text(row[0]), "time": row[1], "latest_ms": row[2], "max_ms": row[3]})
    report = _text(doctor) if not isinstance(doctor, Exception) else str(doctor)
    return {"events": Budget(max_chars // 2).keep(events), "doctor": show(report, max_chars=max_chars // 2)}


async def pubsub_channels(store: Store, pattern: str = "*", *, max_chars: int = 25_000) -> dict[str, Any]:
    """Active channels matching a pattern with their subscriber counts."""
    check_pattern(pattern)
    # In a cluster a classic channel's subscribers sit on whichever node they connected to: ask every primary.
    found = await store.run_everywhere("PUBSUB", "CHANNELS", pattern)
    channels = sorted({channel for part in found for channel in part})[:500]
    totals: dict[Any, int] = dict.fromkeys(channels, 0)
    for counts in await store.run_everywhere("PUBSUB", "NUMSUB", *channels) if channels else []:
        if isinstance(counts, list) and counts and not isinstance(counts[0], list | tuple):
            counts = list(zip(counts[::2], counts[1::2], strict=True))
        for channel, number in counts:
            totals[channel] = totals.get(channel, 0) + int(number)
    shown = [{"channel": show(c, max_chars=500), "subscribers": n} for c, n in totals.items()]
    kept = Budget(max_chars).keep(shown)
    result: dict[str, Any] = {"channels": kept}
    if len(kept) < len(shown):
        result["note"] = _cut_note("channels", len(kept), len(shown), "use a narrower pattern.")
    return result


async def publish(store: Store, channel: str, message: str) -> dict[str, Any]:
    """PUBLISH a message; returns how many subscribers received it."""
    return {
        "channel": channel,
        "receivers": int(await store.run("PUBLISH", channel, message, idempotent=False)),
    }


async def raw_command(store: Store, args: Sequence[str], *, max_chars: int = 25_000) -> dict[str, Any]:
    """An allow-listed command exactly as given (admin tier); the reply rendered as JSON."""
    reply = await store.run(*args, raw=True)
    return {"command": list(args[:1]), "reply": _render(reply, max_chars)}


def _render(reply: Any, max_chars: int) -> Any:
    if isinstance(reply, bytes | str):
        return show(reply, max_chars=max_chars)
    if isinstance(reply, dict):
        pairs = ([_as_key(_render(k, 200)), _render(v, max_chars)] for k, v in list(reply.items())[:1000])
        return dict(Budget(max_chars).keep(pairs))
    if isinstance(reply, list | tuple | set):
        return Budget(max_chars).keep(_render(v, max_chars) for v in list(reply)[:1000])
    return reply


# ---------------------------------------------------------------------------------------------- helpers


async def _expect_type(store: Store, key: str, kind: str, *, missing_ok: bool = False) -> None:
    """Refuse early, with the key's real type, when a tool for another type is used."""
    actual = _text(await store.run("TYPE", key))
    if actual == kind or (missing_ok and actual == "none"):
        return
    if actual == "none":
        raise NotFound(f"Key not found: {json.dumps(key)}.", hint="Call list to find the key.")
    raise UserError(
        f"{json.dumps(key)} holds a {actual}, not a {kind}; nothing was changed.",
        hint=f"Use get or the {actual} tools for it.",
    )
