"""Names for IDs and IDs for names: one workspace's channels and users, cached and warmed in the background.

`warm()` pages through `conversations.list` and `users.list` once; the server starts it beside serving, so
`initialize` never waits for it (korotovsky/slack-mcp-server #271, #325 blocked for minutes). Until it is
done, lookups fall back to one `users.info` / `conversations.info` per unknown ID, and resolving a channel
*name* waits for the channel listing, which is the only way to find one.

A tool call that loads a listing, or waits for the warm-up to finish one, reports progress meanwhile
(channels or users listed so far, a few times a second): "listing the channels of workspace default: 400
channels". Paging happens in the call's task (or the warm-up's), so a cancelled or timed-out call requests
no further page; the warm-up a call was waiting for goes on, since other calls need it too.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio

from patchbay_common import notify
from patchbay_common.errors import NotFound, UserError
from patchbay_common.logs import get_logger
from patchbay_slack.api import SlackApi

__all__ = ["Channel", "Directory", "User", "looks_like_channel_id", "looks_like_user_id"]

log = get_logger("patchbay.slack.directory")

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_USER_ID = re.compile(r"^[UWB][A-Z0-9]{6,}$")
CHANNEL_TYPES = "public_channel,private_channel"
_TICK = 0.2  # seconds between two readings of a listing's count (the layer sends at most four a second)


# The tool call that last reported a listing in this task, and the last value: a second listing in the
# same call (users after channels, a channel list loaded again) counts on from there, never backwards.
_reported: ContextVar[tuple[Any, float] | None] = ContextVar("patchbay_slack_listed", default=None)


@asynccontextmanager
async def _counting(count: Callable[[], int], unit: str, message: str) -> AsyncIterator[None]:
    """Report `count()` as the current tool call's progress while the block runs (nothing outside a call)."""
    call = notify.current_call.get()
    if call is None:
        yield
        return
    before = _reported.get()
    base = before[1] if before is not None and before[0] is call else 0.0
    async with notify.Progress(unit=unit, message=message) as progress:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal handle
            progress.update(base + count())
            handle = loop.call_later(_TICK, tick)

        tick()
        try:
            yield
        finally:
            if handle is not None:
                handle.cancel()
            progress.update(base + count())
            _reported.set((call, progress.done))


def looks_like_channel_id(value: str) -> bool:
    """Whether `value` is shaped like a Slack conversation ID (C…, G…, D…)."""
    return bool(_CHANNEL_ID.match(value))


def looks_like_user_id(value: str) -> bool:
    """Whether `value` is shaped like a Slack user ID (U…, W…)."""
    return bool(_USER_ID.match(value))


@dataclass(frozen=True)
class Channel:
    """The parts of a conversation object the tools show."""

    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = False
    num_members: int | None = None
    topic: str = ""
    purpose: str = ""
    is_im: bool = False
    is_mpim: bool = False
    user: str | None = None

    @property
    def is_dm(self) -> bool:
        """Whether this is a direct message (one to one or group), which posting rules treat apart."""
        return self.is_im or self.is_mpim or self.id.startswith("D")

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Channel:
        """From a Slack conversation object."""
        return cls(
            id=raw["id"],
            name=raw.get("name") or raw.get("user") or raw["id"],
            is_private=bool(raw.get("is_private") or raw.get("is_group")),
            is_archived=bool(raw.get("is_archived")),
            is_member=bool(raw.get("is_member")),
            num_members=raw.get("num_members"),
            topic=((raw.get("topic") or {}).get("value") or ""),
            purpose=((raw.get("purpose") or {}).get("value") or ""),
            is_im=bool(raw.get("is_im")),
            is_mpim=bool(raw.get("is_mpim")),
            user=raw.get("user") if isinstance(raw.get("user"), str) else None,
        )


@dataclass(frozen=True)
class User:
    """The parts of a user object the tools show."""

    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    title: str = ""
    tz: str = ""
    is_bot: bool = False
    deleted: bool = False

    @property
    def handle(self) -> str:
        """What `@` shows: the display name, else the user name."""
        return self.display_name or self.name

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> User:
        """From a Slack user object."""
        profile = raw.get("profile") or {}
        return cls(
            id=raw["id"],
            name=raw.get("name") or raw["id"],
            real_name=raw.get("real_name") or profile.get("real_name") or "",
            display_name=profile.get("display_name") or "",
            title=profile.get("title") or "",
            tz=raw.get("tz") or "",
            is_bot=bool(raw.get("is_bot")),
            deleted=bool(raw.get("deleted")),
        )


@dataclass
class Directory:
    """The cached channels and users of one workspace."""

    api: SlackApi
    ttl: float = 3600.0
    channels: dict[str, Channel] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    channels_loaded_at: float | None = None
    users_loaded_at: float | None = None
    warm_error: str | None = None
    channels_listed: int = 0  # channels the listing under way has read so far (progress)
    users_listed: int = 0  # users the listing under way has read so far (progress)
    _channels_lock: anyio.Lock = field(default_factory=anyio.Lock)
    _users_lock: anyio.Lock = field(default_factory=anyio.Lock)

    # --- warming ---------------------------------------------------------------------------------------

    async def warm(self) -> None:
        """Load channels, then users; log (never raise) a failure, so a bad token cannot stop the server."""
        started = time.perf_counter()
        try:
            await self.api.preload()
            await self.load_channels()
            await self.load_users()
        except UserError as exc:
            self.warm_error = str(exc)
            log.warning("name cache not warmed", workspace=self.api.workspace, error=str(exc))
            return
        log.info(
            "name cache warmed",
            workspace=self.api.workspace,
            channels=len(self.channels),
            users=len(self.users),
            ms=round((time.perf_counter() - started) * 1000),
        )

    def _fresh(self, loaded_at: float | None) -> bool:
        return loaded_at is not None and time.monotonic() - loaded_at < self.ttl

    async def load_channels(self, *, force: bool = False) -> None:
        """Page through every channel the token can see (once per `ttl`, or now when `force`)."""
        if self._fresh(self.channels_loaded_at) and not force:
            return
        message = f"listing the channels of workspace {self.api.workspace}"
        async with _counting(lambda: self.channels_listed, "channels", message), self._channels_lock:
            if self._fresh(self.channels_loaded_at) and not force:
                return
            found: dict[str, Channel] = {}
            self.channels_listed = 0
            async for raw in self.api.pages(
                "conversations.list", "channels", types=CHANNEL_TYPES, exclude_archived=False
            ):
                channel = Channel.from_api(raw)
                found[channel.id] = channel
                self.channels_listed += 1
            self.channels.update(found)
            self.channels_loaded_at = time.monotonic()

    async def load_users(self, *, force: bool = False) -> None:
        """Page through every user of the workspace (once per `ttl`, or now when `force`)."""
        if self._fresh(self.users_loaded_at) and not force:
            return
        message = f"listing the users of workspace {self.api.workspace}"
        async with _counting(lambda: self.users_listed, "users", message), self._users_lock:
            if self._fresh(self.users_loaded_at) and not force:
                return
            found: dict[str, User] = {}
            self.users_listed = 0
            async for raw in self.api.pages("users.list", "members"):
                user = User.from_api(raw)
                found[user.id] = user
                self.users_listed += 1
            self.users.update(found)
            self.users_loaded_at = time.monotonic()

    # --- lookups ---------------------------------------------------------------------------------------

    def user_handle(self, user_id: str) -> str | None:
        """The cached `@` name of a user ID, or None."""
        user = self.users.get(user_id)
        return user.handle if user else None

    def channel_label(self, channel_id: str) -> str | None:
        """The cached name of a channel ID, or None."""
        channel = self.channels.get(channel_id)
        return channel.name if channel else None

    async def fill_users(self, user_ids: set[str]) -> None:
        """Look up, one `users.info` each, the IDs the cache does not know yet (at most 50, 8 at a time)."""
        missing = [u for u in user_ids if u and u not in self.users][:50]
        if not missing:
            return
        limiter = anyio.Semaphore(8)

        async def one(user_id: str) -> None:
            async with limiter:
                try:
                    data = await self.api.call("users.info", user=user_id)
                except UserError:
                    return  # an unknown ID stays an ID; the message is still shown
                self.users[user_id] = User.from_api(data["user"])

        async with anyio.create_task_group() as group:
            for user_id in missing:
                group.start_soon(one, user_id)

    async def channel(self, name_or_id: str) -> Channel:
        """The channel called `name_or_id` (`#name`, `name` or an ID).

        Raises:
            NotFound: no channel the token can see has that name.
        """
        given = name_or_id.strip()
        if looks_like_channel_id(given):
            known = self.channels.get(given)
            if known is not None:
                return known
            data = await self.api.call("conversations.info", channel=given)
            channel = Channel.from_api(data["channel"])
            self.channels[channel.id] = channel
            return channel
        name = given.lstrip("#").lower()
        if not name:
            raise UserError("The channel is empty.", hint="Give a channel name such as #general, or its ID.")
        await self.load_channels()
        found = self._named(name)
        if found is None and time.monotonic() - (self.channels_loaded_at or 0) > 30:
            await self.load_channels(force=True)  # a channel created since the listing
            found = self._named(name)
        if found is not None:
            return found
        raise NotFound(
            f"No channel named #{name} in workspace '{self.api.workspace}' (or the token cannot see it).",
            hint="slack_list_channels lists the channels by name and ID.",
        )

    def _named(self, name: str) -> Channel | None:
        matches = [c for c in self.channels.values() if c.name.lower() == name]
        return min(matches, key=lambda c: c.is_archived) if matches else None

    async def channel_name(self, channel_id: str) -> str:
        """The name of a channel ID, looked up when the cache does not know it (the ID if that fails)."""
        if channel_id in self.channels:
            return self.channels[channel_id].name
        try:
            return (await self.channel(channel_id)).name
        except UserError:
            return channel_id

    async def user(self, name_or_id: str) -> User:
        """The user called `name_or_id` (`@handle`, user name, real name, or ID).

        Raises:
            NotFound: no user has that name.
        """
        given = name_or_id.strip()
        if looks_like_user_id(given):
            await self.fill_users({given})
            if given in self.users:
                return self.users[given]
            raise NotFound(f"No user with ID {given}.", hint="slack_search_users finds users by name.")
        matches = self.find_users(given.lstrip("@"), exact=True)
        if not matches:
            await self.load_users()
            matches = self.find_users(given.lstrip("@"), exact=True)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(f"{u.handle} ({u.id})" for u in matches[:10])
            raise UserError(f"{given!r} names several users: {shown}.", hint="Give the user ID instead.")
        raise NotFound(f"No user named {given!r}.", hint="slack_search_users finds users by part of a name.")

    def find_users(self, query: str, *, exact: bool = False) -> list[User]:
        """Cached users whose name, display name or real name equals (or contains) `query`."""
        wanted = query.strip().lower()
        found = []
        for user in self.users.values():
            names = [user.name.lower(), user.display_name.lower(), user.real_name.lower()]
            if (wanted in names) if exact else any(wanted in n for n in names):
                found.append(user)
        return sorted(found, key=lambda u: (u.deleted, u.name))
