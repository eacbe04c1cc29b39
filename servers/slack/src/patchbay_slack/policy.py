"""Where posting is allowed: the operator's channel allow-list (names or IDs, `!` to deny)."""

from __future__ import annotations

from dataclasses import dataclass

from patchbay_common.errors import AccessDenied

__all__ = ["PostPolicy"]


@dataclass(frozen=True)
class PostPolicy:
    """Channels posts may go to.

    Built from a comma-separated list such as `#general,C0123ABC,!#announcements`: `*` allows every
    channel, `!` denies one, and denials win. A denial never allows anything by itself: posting anywhere
    else needs `*` (`*,!#announcements`), so adding a denial to a list can only narrow it.
    """

    allowed: frozenset[str]
    denied: frozenset[str]
    everything: bool

    @classmethod
    def parse(cls, spec: str) -> PostPolicy:
        """Read the allow-list; raise `ValueError` when it names nothing."""
        allowed: set[str] = set()
        denied: set[str] = set()
        everything = False
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            deny = item.startswith("!")
            key = _key(item.lstrip("!"))
            if not key:
                raise ValueError(f"--allow-post: empty channel name in {spec!r}")
            if key == "*":
                everything = everything or not deny
                continue
            (denied if deny else allowed).add(key)
        if not (allowed or denied or everything):
            raise ValueError("--allow-post: give channels (names or IDs), '*' for all, '!name' to deny")
        if not (allowed or everything):
            raise ValueError(
                f"--allow-post {spec!r} only denies channels, which allows none; to allow every other "
                "channel, add '*' (e.g. '*,!#announcements')"
            )
        return cls(frozenset(allowed), frozenset(denied), everything)

    def allows(self, channel_id: str, channel_name: str | None) -> bool:
        """Whether a post to the channel with this ID and name is allowed."""
        keys = {_key(channel_id)} | ({_key(channel_name)} if channel_name else set())
        if keys & self.denied:
            return False
        return self.everything or bool(keys & self.allowed)

    def check(self, channel_id: str, channel_name: str | None) -> None:
        """Raise `AccessDenied` unless posting to the channel is allowed."""
        if not self.allows(channel_id, channel_name):
            shown = f"#{channel_name} ({channel_id})" if channel_name else channel_id
            raise AccessDenied(
                f"Posting to {shown} is not allowed by the server's --allow-post list.",
                hint=f"Allowed: {self.describe()}. Only the operator can change the list.",
            )

    def describe(self) -> str:
        """The list in words, for messages."""
        parts = ["every channel"] if self.everything else sorted(_shown(k) for k in self.allowed)
        if self.denied:
            parts.append("except " + ", ".join(sorted(_shown(k) for k in self.denied)))
        return " ".join(parts) if parts else "none"


def _key(value: str) -> str:
    value = value.strip().lstrip("#")
    return value if value.isupper() or value == "*" else value.lower()


def _shown(key: str) -> str:
    return key if key[:1] in "CGD" and key.isupper() else f"#{key}"
