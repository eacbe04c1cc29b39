"""Where posting is allowed: the operator's allow-list per workspace (names, IDs, `!` to deny, `@` DMs)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from patchbay_common.errors import AccessDenied

__all__ = ["PostPolicy", "PostRules"]

_SCOPE = re.compile(r"^\s*(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,39})\s*:(.*)$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class PostPolicy:
    """Conversations posts may go to, in one workspace.

    Built from a comma-separated list such as `#general,C0123ABC,!#announcements`: `*` allows every
    channel, `!` denies one, and denials win. A denial never allows anything by itself: posting anywhere
    else needs `*` (`*,!#announcements`), so adding a denial to a list can only narrow it. Direct
    messages need their own opt-in, because `*` does not cover them: `@*` allows direct messages (one to
    one and group) to anyone, `@U0123ABC` the one with that user, and a DM's own `D…` ID that DM.
    """

    allowed: frozenset[str]
    denied: frozenset[str]
    everything: bool
    dm_users: frozenset[str] = field(default_factory=frozenset)
    dm_everyone: bool = False

    @classmethod
    def parse(cls, spec: str) -> PostPolicy:
        """Read the allow-list; raise `ValueError` when it names nothing."""
        return cls.from_items(spec.split(","), shown=spec)

    @classmethod
    def from_items(cls, items: Iterable[str], *, shown: str) -> PostPolicy:
        """Read allow-list entries; `shown` is how the operator wrote them, for error texts."""
        allowed: set[str] = set()
        denied: set[str] = set()
        dm_users: set[str] = set()
        everything = dm_everyone = False
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            deny = item.startswith("!")
            body = item.lstrip("!").strip()
            if body.startswith("@"):
                user = body[1:].strip()
                if user == "*":
                    dm_everyone = dm_everyone or not deny
                    continue
                if not _USER_ID.match(user):
                    raise ValueError(
                        f"--allow-post: {item!r}: direct messages are allowed by user ID (@U0123ABC) or "
                        "'@*' for everyone"
                    )
                (denied if deny else dm_users).add("@" + user)
                continue
            key = _key(body)
            if not key:
                raise ValueError(f"--allow-post: empty channel name in {shown!r}")
            if key == "*":
                everything = everything or not deny
                continue
            (denied if deny else allowed).add(key)
        if not (allowed or denied or everything or dm_users or dm_everyone):
            raise ValueError(
                "--allow-post: give channels (names or IDs), '*' for all, '!name' to deny, '@*' for "
                "direct messages"
            )
        if not (allowed or everything or dm_users or dm_everyone):
            raise ValueError(
                f"--allow-post {shown!r} only denies channels, which allows none; to allow every other "
                "channel, add '*' (e.g. '*,!#announcements')"
            )
        return cls(frozenset(allowed), frozenset(denied), everything, frozenset(dm_users), dm_everyone)

    def allows(
        self, channel_id: str, channel_name: str | None, *, dm: bool = False, dm_user: str | None = None
    ) -> bool:
        """Whether a post to this conversation is allowed (`dm`: a direct message, with `dm_user`)."""
        keys = {_key(channel_id)} | ({_key(channel_name)} if channel_name and not dm else set())
        if dm_user:
            keys.add("@" + dm_user)
        if keys & self.denied:
            return False
        if dm:
            return self.dm_everyone or bool(keys & (self.dm_users | self.allowed))
        return self.everything or bool(keys & self.allowed)

    def describe(self) -> str:
        """The list in words, for messages."""
        parts = ["every channel"] if self.everything else sorted(_shown(k) for k in self.allowed)
        if self.dm_everyone:
            parts.append("direct messages to anyone")
        elif self.dm_users:
            parts.append("direct messages with " + ", ".join(sorted(self.dm_users)))
        if self.denied:
            parts.append("except " + ", ".join(sorted(_shown(k) for k in self.denied)))
        return " ".join(parts) if parts else "none"


@dataclass(frozen=True)
class PostRules:
    """The posting policy of each workspace, from the repeatable `--allow-post`.

    An entry may start with a workspace name and a colon (`work:#general,#eng`): that entry and the
    unprefixed allow entries after it (in the same or later values) are for that workspace only, until the
    next prefix; `*:` goes back to every workspace. Entries before any prefix are for every workspace,
    which is today's meaning with one workspace. A denial without its own prefix (`!#announcements`)
    denies in every workspace, wherever it stands, so denials win; `work:!#x` denies in one. A workspace
    with no allow entries has no posting at all.
    """

    policies: dict[str, PostPolicy]
    spec: str

    @classmethod
    def parse(cls, values: str | Iterable[str], workspaces: Iterable[str]) -> PostRules:
        """Read the `--allow-post` values for these workspace names; raise `ValueError` when wrong."""
        values = [values] if isinstance(values, str) else list(values)
        names = list(workspaces)
        shown = " ".join(values)
        every: list[str] = []
        scoped: dict[str, list[str]] = {name: [] for name in names}
        scope: str | None = None
        for value in values:
            for raw in value.split(","):
                item = raw.strip()
                found = _SCOPE.match(item)
                explicit = False
                if found:
                    scope = None if found.group(1) == "*" else found.group(1)
                    item, explicit = found.group(2).strip(), True
                    if scope is not None and scope not in scoped:
                        raise ValueError(
                            f"--allow-post: no workspace named {scope!r} (configured: {', '.join(names)})"
                        )
                if not item:
                    if found:
                        raise ValueError(f"--allow-post: nothing after {found.group(1)!r}: in {shown!r}")
                    continue
                deny = item.startswith("!")
                target = every if scope is None or (deny and not explicit) else scoped[scope]
                target.append(item)
        policies: dict[str, PostPolicy] = {}
        everything = every + [i for items in scoped.values() for i in items]
        if not any(not i.startswith("!") for i in everything):
            PostPolicy.from_items(everything, shown=shown)  # raises "give channels" / "only denies"
        for name in names:
            items = every + scoped[name]
            if any(not i.startswith("!") for i in items):
                policies[name] = PostPolicy.from_items(items, shown=shown)
        return cls(policies, shown)

    def check(
        self,
        workspace: str,
        channel_id: str,
        channel_name: str | None,
        *,
        dm: bool = False,
        dm_user: str | None = None,
    ) -> None:
        """Raise `AccessDenied` unless posting to the conversation in `workspace` is allowed."""
        policy = self.policies.get(workspace)
        if dm:
            shown = f"the direct message {channel_id}" + (f" with {dm_user}" if dm_user else "")
        else:
            shown = f"#{channel_name} ({channel_id})" if channel_name else channel_id
        if policy is None:
            raise AccessDenied(
                f"Posting to {shown} is not allowed: the server's --allow-post list allows nothing in "
                f"workspace '{workspace}'.",
                hint="Only the operator can change the list (e.g. --allow-post 'NAME:#channel').",
            )
        if not policy.allows(channel_id, channel_name, dm=dm, dm_user=dm_user):
            hint = f"Allowed in '{workspace}': {policy.describe()}."
            if dm and not (policy.dm_everyone or policy.dm_users):
                hint += (
                    " Direct messages need their own entry ('@U0123ABC' or '@*'), which '*' does not give."
                )
            raise AccessDenied(
                f"Posting to {shown} is not allowed by the server's --allow-post list.",
                hint=hint + " Only the operator can change the list.",
            )


def _key(value: str) -> str:
    value = value.strip().lstrip("#")
    return value if value.isupper() or value == "*" else value.lower()


def _shown(key: str) -> str:
    if key.startswith("@"):
        return key
    return key if key[:1] in "CGD" and key.isupper() else f"#{key}"
