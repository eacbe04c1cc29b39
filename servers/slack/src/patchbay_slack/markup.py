"""Slack's message markup (mrkdwn) turned into plain text a model reads easily.

`<@U123>` becomes `@alice`, `<#C123|general>` becomes `#general`, `<!here>` becomes `@here`,
`<https://x|label>` becomes `label (https://x)`, and `&lt; &gt; &amp;` are unescaped last, so escaped text
can never turn into markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["mentioned_users", "to_plain"]

_ANGLE = re.compile(r"<([^<>\n]+)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

Lookup = Callable[[str], str | None]


def mentioned_users(text: str) -> set[str]:
    """The user IDs mentioned with `<@U...>` in `text`."""
    return set(_USER.findall(text or ""))


def to_plain(text: str, user_name: Lookup, channel_name: Lookup) -> str:
    """`text` with Slack markup replaced by readable names, links and mentions."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            name = user_name(target[1:]) or label.lstrip("@") or target[1:]
            return f"@{name}"
        if target.startswith("#"):
            name = label or channel_name(target[1:]) or target[1:]
            return f"#{name}"
        if target.startswith("!"):
            special = target[1:]
            if special in ("here", "channel", "everyone"):
                return f"@{special}"
            if special.startswith("subteam^"):
                return label or "@group"
            return label or f"@{special}"
        if target.startswith("mailto:"):
            return label or target[7:]
        if label and label != target:
            return f"{label} ({target})"
        return target

    plain = _ANGLE.sub(replace, text or "")
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
