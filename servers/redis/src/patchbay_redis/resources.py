"""What the key and channel resources read (registered in server.py, framed there as untrusted data).

A resource has no structured form and no note: its whole text is framed. It is sized here to fit the
budget, with values dense in escaped characters measured as sent, so the layer does not cut the JSON.
"""

from __future__ import annotations

import json
from typing import Any

from patchbay_common.untrusted import sanitize
from patchbay_redis import ops
from patchbay_redis.deps import Deps
from patchbay_redis.live import channel_uri
from patchbay_redis.values import Budget

__all__ = ["channel_text", "key_text"]

_FRAME = 400
"""Characters kept for the frame's lines."""


def _fits(deps: Deps, text: str) -> bool:
    return len(sanitize(text)) + _FRAME <= deps.max_chars


async def key_text(deps: Deps, key: str) -> str:
    """A key's value as the get tool shows it, as JSON text."""
    chars = max(100, deps.max_chars - _FRAME)
    for _ in range(4):
        text = json.dumps(await ops.get_value(deps.store, key, max_chars=chars), ensure_ascii=False)
        if _fits(deps, text) or chars <= 100:
            break
        chars = max(100, int(chars * (deps.max_chars - _FRAME) / len(sanitize(text)) * 0.9))
    return text


def channel_text(deps: Deps, channel: str) -> str:
    """The buffered messages of a channel, newest kept when they do not all fit, as JSON text."""
    uri = channel_uri(channel)
    messages = deps.hub.messages(uri)
    data: dict[str, Any] = {"channel": channel, "subscribed": deps.hub.watching(uri), "messages": messages}
    if not data["subscribed"] and not messages:
        data["note"] = "No messages buffered: subscribe to this resource to start collecting them."
    chars = max(100, deps.max_chars - _FRAME - 300 - 2 * len(channel))
    while True:
        kept = Budget(chars).keep(reversed(messages))[::-1]
        data["messages"] = kept
        if len(kept) < len(messages):
            data["note"] = f"The newest {len(kept)} of {len(messages)} buffered messages are shown."
        text = json.dumps(data, ensure_ascii=False)
        if _fits(deps, text) or len(kept) <= 1:
            return text
        chars = chars * 2 // 3
