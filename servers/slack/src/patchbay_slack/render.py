"""Compact text for messages, channels and users: one line each, names instead of IDs, markup as text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchbay_slack.directory import Channel, Directory, User
from patchbay_slack.markup import mentioned_users, to_plain
from patchbay_slack.timewindow import format_ts

__all__ = ["channel_line", "message_users", "render_message", "user_line"]


def message_users(messages: Sequence[dict[str, Any]]) -> set[str]:
    """Every user ID a batch of messages shows: authors, mentions, reactors are left out (only counts)."""
    found: set[str] = set()
    for message in messages:
        if message.get("user"):
            found.add(message["user"])
        found |= mentioned_users(message.get("text") or "")
    return found


def _author(message: dict[str, Any], directory: Directory) -> str:
    user_id = message.get("user")
    if user_id:
        return "@" + (directory.user_handle(user_id) or user_id)
    profile = message.get("bot_profile") or {}
    return message.get("username") or profile.get("name") or message.get("bot_id") or "unknown"


def render_message(message: dict[str, Any], directory: Directory) -> tuple[str, dict[str, Any]]:
    """One message as a text line (continuation lines indented) and as structured data."""
    text = to_plain(message.get("text") or "", directory.user_handle, directory.channel_label)
    files = [f.get("name") or f.get("title") or f.get("id", "file") for f in message.get("files") or []]
    reactions = [(r.get("name", "?"), int(r.get("count", 0))) for r in message.get("reactions") or []]
    ts = str(message.get("ts", ""))
    author = _author(message, directory)
    notes = [f"ts={ts}"]
    reply_count = int(message.get("reply_count") or 0)
    if reply_count:
        notes.append(f"{reply_count} repl{'y' if reply_count == 1 else 'ies'}")
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != ts:
        notes.append(f"in thread {thread_ts}")
    if message.get("subtype") and message["subtype"] not in ("bot_message", "thread_broadcast"):
        notes.append(str(message["subtype"]))
    if message.get("edited"):
        notes.append("edited")
    if files:
        notes.append("files: " + ", ".join(files))
    if reactions:
        notes.append(" ".join(f":{name}:x{count}" for name, count in reactions))
    body = text.replace("\n", "\n    ")
    line = f"{format_ts(ts)} {author} [{'; '.join(notes)}]: {body}"
    data: dict[str, Any] = {
        "ts": ts,
        "user": message.get("user"),
        "author": author.lstrip("@"),
        "text": text,
    }
    if thread_ts:
        data["thread_ts"] = thread_ts
    if reply_count:
        data["reply_count"] = reply_count
    if reactions:
        data["reactions"] = [{"name": n, "count": c} for n, c in reactions]
    if files:
        data["files"] = files
    return line, data


def channel_line(channel: Channel) -> str:
    """`#general (C012AB3CD) member, 4 members: topic`."""
    flags = []
    if channel.is_private:
        flags.append("private")
    if channel.is_archived:
        flags.append("archived")
    if channel.is_member:
        flags.append("member")
    if channel.num_members is not None:
        flags.append(f"{channel.num_members} members")
    about = channel.topic or channel.purpose
    detail = f" {', '.join(flags)}" if flags else ""
    return f"#{channel.name} ({channel.id}){detail}" + (f": {about}" if about else "")


def user_line(user: User) -> str:
    """`@spengler (W012A3CDE) Egon Spengler, title, tz`."""
    parts = [p for p in (user.real_name, user.title, user.tz) if p]
    flags = [f for f, on in (("bot", user.is_bot), ("deactivated", user.deleted)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"@{user.handle} ({user.id}){extra}" + (f" {', '.join(parts)}" if parts else "")
