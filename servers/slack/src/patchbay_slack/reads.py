"""What the read tools do, without MCP: call Slack, resolve names, and lay the answer out as text + data.

Message text is wrapped as untrusted data (it is written by anyone in the workspace). Every listing is
bounded by a count and by the server's character budget; when either cuts it, the text ends with the
cursor that continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from patchbay_common.errors import Partial, UserError
from patchbay_common.limits import cap_text, decode_cursor, encode_cursor
from patchbay_common.untrusted import wrap_untrusted
from patchbay_slack.directory import CHANNEL_TYPES, Channel, Directory, User
from patchbay_slack.render import channel_line, message_users, render_message, user_line
from patchbay_slack.timewindow import format_ts, parse_time, slack_ts, ts_value
from patchbay_slack.workspaces import Workspace, Workspaces

__all__ = ["Result"]

_FRAME = 400  # characters the header, the untrusted-data frame and the footer take


@dataclass
class Result:
    """A tool's answer: text for the model, and the same content as structured data."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    oldest = slack_ts(parse_time(since, name="since")) if since else None
    latest = slack_ts(parse_time(until, name="until")) if until else None
    if oldest and latest and ts_value(oldest) >= ts_value(latest):
        raise UserError(
            f"since ({since}) is not before until ({until}).", hint="Swap them or widen the window."
        )
    return oldest, latest


def _fit(lines: list[str], budget: int) -> int:
    """How many of `lines` fit in `budget` characters (at least one)."""
    used = 0
    for index, line in enumerate(lines):
        used += len(line) + 1
        if used > budget and index > 0:
            return index
    return len(lines)


async def _render(
    messages: list[dict[str, Any]], directory: Directory, max_chars: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Lines and rows for `messages`; a line longer than the budget allows is cut with a marker."""
    await directory.fill_users(message_users(messages))
    rendered = [render_message(m, directory) for m in messages]
    room = max(200, max_chars - 2 * _FRAME)
    lines = [
        line if len(line) <= room else f"{line[:room]} [message cut: {len(line) - room} more characters]"
        for line, _ in rendered
    ]
    return lines, [r[1] for r in rendered]


def _shrink(make: Callable[[int], str], keep: int, max_chars: int) -> str:
    """`make(keep)`, with fewer messages while it is over `max_chars` (the frame size is estimated)."""
    while True:
        text = make(keep)
        if len(text) <= max_chars or keep <= 1:
            return text
        keep -= 1


def _cursor_state(cursor: str, kind: str, channel: str) -> dict[str, Any]:
    state = decode_cursor(cursor)
    if state.get("k") != kind or state.get("ch") != channel:
        raise UserError(
            "The cursor belongs to another listing.",
            hint="Pass the cursor with the same channel (and thread) it came from, or omit it to start over.",
        )
    return state


async def channel_history(
    ws: Workspace,
    channel: str,
    *,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    max_chars: int,
) -> Result:
    """Messages of a channel in a time window, newest page first, shown oldest first."""
    found = await ws.directory.channel(channel)
    if cursor:
        state = _cursor_state(cursor, "h", found.id)
        oldest, latest = state.get("o"), state.get("l")
    else:
        oldest, latest = _window(since, until)
    data = await ws.api.call(
        "conversations.history", channel=found.id, oldest=oldest, latest=latest, limit=limit
    )
    messages = data.get("messages") or []  # newest first
    lines, rows = await _render(messages, ws.directory, max_chars)
    window = _describe_window(oldest, latest)
    page: dict[str, Any] = {}

    def make(keep: int) -> str:
        more = keep < len(messages) or bool(data.get("has_more"))
        next_cursor = (
            encode_cursor({"k": "h", "ch": found.id, "o": oldest, "l": messages[keep - 1]["ts"]})
            if more and keep
            else None
        )
        shown_lines, shown_rows = lines[:keep][::-1], rows[:keep][::-1]
        page.update(messages=shown_rows, next_cursor=next_cursor)
        if not shown_lines:
            return f"#{found.name} ({found.id}): no messages{window}."
        header = (
            f"#{found.name} ({found.id}): {len(shown_lines)} messages{window}, oldest first, "
            f"{format_ts(shown_rows[0]['ts'])} to {format_ts(shown_rows[-1]['ts'])} UTC."
        )
        text = f"{header}\n{wrap_untrusted(chr(10).join(shown_lines), f'slack #{found.name}')}"
        if next_cursor:
            text += f"\nOlder messages: call again with cursor={next_cursor}"
        return text

    text = _shrink(make, _fit(lines, max_chars - _FRAME), max_chars)
    return Result(text, {"channel": {"id": found.id, "name": found.name}, **page})


def _describe_window(oldest: str | None, latest: str | None) -> str:
    if oldest and latest:
        return f" between {format_ts(oldest)} and {format_ts(latest)} UTC"
    if oldest:
        return f" since {format_ts(oldest)} UTC"
    if latest:
        return f" before {format_ts(latest)} UTC"
    return ""


async def thread_replies(
    ws: Workspace,
    channel: str,
    thread_ts: str,
    *,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    max_chars: int,
) -> Result:
    """The parent message and replies of a thread, oldest first."""
    found = await ws.directory.channel(channel)
    thread_ts = thread_ts.strip()
    key = f"{found.id}/{thread_ts}"
    skip_through: str | None = None
    if cursor:
        state = _cursor_state(cursor, "r", key)
        oldest, latest, skip_through = state.get("o"), state.get("l"), state.get("s")
    else:
        oldest, latest = _window(since, until)
    data = await ws.api.call(
        "conversations.replies",
        channel=found.id,
        ts=thread_ts,
        oldest=skip_through or oldest,
        latest=latest,
        limit=limit + 1,
    )
    messages = data.get("messages") or []  # parent first, then replies oldest first
    if skip_through:
        messages = [m for m in messages if ts_value(m.get("ts", 0)) > ts_value(skip_through)]
    more = len(messages) > limit or bool(data.get("has_more"))
    messages = messages[:limit]
    lines, rows = await _render(messages, ws.directory, max_chars)
    page: dict[str, Any] = {}

    def make(keep: int) -> str:
        next_cursor = (
            encode_cursor({"k": "r", "ch": key, "o": oldest, "l": latest, "s": messages[keep - 1]["ts"]})
            if (more or keep < len(messages)) and keep
            else None
        )
        page.update(messages=rows[:keep], next_cursor=next_cursor)
        if not lines:
            return f"Thread {thread_ts} in #{found.name}: no messages{_describe_window(oldest, latest)}."
        header = f"Thread {thread_ts} in #{found.name} ({found.id}): {keep} messages, oldest first."
        text = f"{header}\n{wrap_untrusted(chr(10).join(lines[:keep]), f'slack #{found.name} thread')}"
        if next_cursor:
            text += f"\nLater replies: call again with cursor={next_cursor}"
        return text

    text = _shrink(make, _fit(lines, max_chars - _FRAME), max_chars)
    return Result(text, {"channel": {"id": found.id, "name": found.name}, "thread_ts": thread_ts, **page})


def _listing(lines: list[str], head: str, max_chars: int) -> str:
    keep = _fit(lines, max_chars - _FRAME)
    text = head + "\n" + "\n".join(lines[:keep])
    if keep < len(lines):
        text += f"\n[{len(lines) - keep} more on this page not shown: ask with a smaller limit]"
    return text


async def list_channels(
    ws: Workspace,
    *,
    limit: int,
    cursor: str | None,
    member_only: bool,
    include_archived: bool,
    max_chars: int,
) -> Result:
    """One page of channels (public and private the token can see)."""
    method = "users.conversations" if member_only else "conversations.list"
    data = await ws.api.call(
        method, types=CHANNEL_TYPES, exclude_archived=not include_archived, limit=limit, cursor=cursor or None
    )
    channels = [Channel.from_api(raw) for raw in data.get("channels") or []]
    for channel in channels:
        if member_only:  # users.conversations lists only the token's own channels
            channel = Channel(**{**channel.__dict__, "is_member": True})
        ws.directory.channels[channel.id] = channel
    channels = [ws.directory.channels[c.id] for c in channels]
    next_cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
    lines = [channel_line(c) for c in channels]
    text = _listing(lines, f"{len(channels)} channels in workspace '{ws.name}':", max_chars)
    if not channels:
        text = f"No channels in workspace '{ws.name}' match."
    if next_cursor:
        text += f"\nMore channels: call again with cursor={next_cursor}"
    return Result(
        text,
        {
            "channels": [
                {
                    "id": c.id,
                    "name": c.name,
                    "is_private": c.is_private,
                    "is_archived": c.is_archived,
                    "is_member": c.is_member,
                    "num_members": c.num_members,
                    "topic": c.topic,
                }
                for c in channels
            ],
            "next_cursor": next_cursor,
        },
    )


def _user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "real_name": user.real_name,
        "title": user.title,
        "tz": user.tz,
        "is_bot": user.is_bot,
        "deleted": user.deleted,
    }


async def list_users(ws: Workspace, *, limit: int, cursor: str | None, max_chars: int) -> Result:
    """One page of the workspace's users."""
    data = await ws.api.call("users.list", limit=limit, cursor=cursor or None)
    users = [User.from_api(raw) for raw in data.get("members") or []]
    for user in users:
        ws.directory.users[user.id] = user
    next_cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
    text = _listing([user_line(u) for u in users], f"{len(users)} users in workspace '{ws.name}':", max_chars)
    if next_cursor:
        text += f"\nMore users: call again with cursor={next_cursor}"
    return Result(text, {"users": [_user_data(u) for u in users], "next_cursor": next_cursor})


async def search_users(ws: Workspace, query: str, *, limit: int) -> Result:
    """Users whose user name, display name or real name contains `query` (from the name cache)."""
    if not query.strip():
        raise UserError("The query is empty.", hint="Give part of a name, e.g. 'spen'.")
    await ws.directory.load_users()
    found = ws.directory.find_users(query.lstrip("@"))
    shown = found[:limit]
    if not shown:
        return Result(f"No user's name contains {query!r}.", {"users": []})
    text = f"{len(found)} users match {query!r}" + (f" (first {limit} shown)" if len(found) > limit else "")
    text += ":\n" + "\n".join(user_line(u) for u in shown)
    return Result(text, {"users": [_user_data(u) for u in shown]})


async def user_profile(ws: Workspace, user: str) -> Result:
    """A user's profile: names, title, status, time zone, and custom fields with their labels."""
    found = await ws.directory.user(user)
    data = await ws.api.call("users.profile.get", user=found.id, include_labels=True)
    profile = data.get("profile") or {}
    lines = [user_line(found)]
    for key, label in (
        ("real_name", "Real name"),
        ("display_name", "Display name"),
        ("title", "Title"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("pronouns", "Pronouns"),
    ):
        if profile.get(key):
            lines.append(f"{label}: {profile[key]}")
    status = " ".join(p for p in (profile.get("status_emoji"), profile.get("status_text")) if p)
    if status:
        lines.append(f"Status: {status}")
    for field_data in (profile.get("fields") or {}).values():
        if isinstance(field_data, dict) and field_data.get("value"):
            lines.append(f"{field_data.get('label') or 'Field'}: {field_data['value']}")
    text = wrap_untrusted("\n".join(lines), f"slack profile @{found.handle}")
    keep = ("real_name", "display_name", "title", "email", "phone", "pronouns", "status_text", "status_emoji")
    return Result(
        text, {"user": _user_data(found), "profile": {k: profile[k] for k in keep if profile.get(k)}}
    )


async def search_messages(ws: Workspace, query: str, *, count: int, page: int, max_chars: int) -> Result:
    """Messages matching a Slack search query (needs a user token)."""
    if not query.strip():
        raise UserError(
            "The query is empty.", hint="Give words to find; Slack modifiers such as in:#general work."
        )
    data = await ws.search_api.call("search.messages", query=query, count=count, page=page, sort="timestamp")
    block = data.get("messages") or {}
    matches = block.get("matches") or []
    paging = block.get("paging") or block.get("pagination") or {}
    total = int(block.get("total") or paging.get("total") or paging.get("total_count") or len(matches))
    pages = int(paging.get("pages") or paging.get("page_count") or 1)
    await ws.directory.fill_users(message_users(matches))
    lines, rows = [], []
    room = max(200, max_chars - 2 * _FRAME)
    for match in matches:
        line, row = render_message(match, ws.directory)
        where = (match.get("channel") or {}).get("name") or (match.get("channel") or {}).get("id", "?")
        lines.append(f"#{where} {line}"[:room])
        row["channel"] = where
        if match.get("permalink"):
            row["permalink"] = match["permalink"]
        rows.append(row)
    keep = _fit(lines, max_chars - _FRAME)
    if not matches:
        return Result(f"No messages match {query!r}.", {"total": 0, "messages": []})
    text = f"{total} messages match {query!r}; page {page} of {pages}, newest first:\n"
    text += wrap_untrusted("\n".join(lines[:keep]), "slack search")
    if page < pages:
        text += f"\nMore: call again with page={page + 1}"
    return Result(text, {"total": total, "page": page, "pages": pages, "messages": rows[:keep]})


async def unread_summary(ws: Workspace, *, since: str, max_channels: int, max_chars: int) -> Result:
    """Per member channel: how many messages are unread (user tokens) or new since `since` (bot tokens)."""
    fallback = slack_ts(parse_time(since, name="since"))
    channels: list[Channel] = []
    async for raw in ws.api.pages(
        "users.conversations", "channels", types=CHANNEL_TYPES, exclude_archived=True
    ):
        channels.append(Channel.from_api(raw))
        if len(channels) >= max_channels:
            break
    results: dict[str, tuple[int, bool, bool, dict[str, Any] | None]] = {}
    limiter = anyio.Semaphore(4)

    partial: Partial[str] = Partial()

    async def one(channel: Channel) -> None:
        async with limiter:
            try:
                info = await ws.api.call("conversations.info", channel=channel.id)
                last_read = (info.get("channel") or {}).get("last_read")
                oldest = last_read if last_read and last_read != "0000000000.000000" else fallback
                history = await ws.api.call(
                    "conversations.history", channel=channel.id, oldest=oldest, limit=100
                )
            except UserError as exc:  # one channel failing leaves the others' counts useful
                partial.fail(f"#{channel.name}", exc.message)
                return
            messages = history.get("messages") or []
            results[channel.id] = (
                len(messages),
                bool(history.get("has_more")),
                bool(last_read),
                (messages or [None])[0],
            )

    async with anyio.create_task_group() as group:
        for channel in channels:
            group.start_soon(one, channel)
    await ws.directory.fill_users(message_users([r[3] for r in results.values() if r[3]]))
    lines, rows = [], []
    marked = any(r[2] for r in results.values())
    for channel in sorted((c for c in channels if c.id in results), key=lambda c: -results[c.id][0]):
        count, has_more, by_marker, latest = results[channel.id]
        if not count:
            continue
        shown = f"{count}{'+' if has_more else ''}"
        line = f"#{channel.name} ({channel.id}): {shown} {'unread' if by_marker else 'new'}"
        if latest:
            latest_line, _ = render_message(latest, ws.directory)
            line += f"; latest: {latest_line[:300]}"
        lines.append(line)
        rows.append(
            {"channel": channel.name, "id": channel.id, "count": count, "more": has_more, "unread": by_marker}
        )
    basis = (
        "unread by the token's read markers"
        if marked
        else f"new since {format_ts(fallback)} UTC (this token has no read markers; bot tokens have none)"
    )
    note = f"\n{partial.note()}" if partial.failures else ""
    if not lines:
        return Result(
            f"No messages {basis} in the {len(channels)} channels the token belongs to.{note}",
            {"channels": []},
        )
    text = f"{len(lines)} of {len(channels)} member channels have messages {basis}:\n"
    text += wrap_untrusted("\n".join(lines), "slack unread summary")
    return Result(cap_text(text + note, max_chars).render(), {"channels": rows})


async def permalink(ws: Workspace, channel: str, message_ts: str) -> Result:
    """The permanent link of one message."""
    found = await ws.directory.channel(channel)
    data = await ws.api.call("chat.getPermalink", channel=found.id, message_ts=message_ts.strip())
    link = data.get("permalink", "")
    return Result(f"{link}", {"channel": found.id, "ts": message_ts, "permalink": link})


async def reactions(ws: Workspace, channel: str, timestamp: str) -> Result:
    """The reactions on one message, with who reacted."""
    found = await ws.directory.channel(channel)
    data = await ws.api.call("reactions.get", channel=found.id, timestamp=timestamp.strip(), full=True)
    message = data.get("message") or {}
    items = message.get("reactions") or []
    await ws.directory.fill_users({u for r in items for u in r.get("users") or []})
    lines, rows = [], []
    for item in items:
        who = [f"@{ws.directory.user_handle(u) or u}" for u in item.get("users") or []]
        count = int(item.get("count", len(who)))
        extra = f" and {count - len(who)} more" if count > len(who) else ""
        lines.append(f":{item.get('name')}: x{count}: {', '.join(who)}{extra}")
        rows.append({"name": item.get("name"), "count": count, "users": item.get("users") or []})
    if not lines:
        return Result(f"No reactions on message {timestamp} in #{found.name}.", {"reactions": []})
    return Result(
        f"Reactions on message {timestamp} in #{found.name}:\n" + "\n".join(lines), {"reactions": rows}
    )


async def scheduled_messages(ws: Workspace, channel: str | None) -> Result:
    """Messages this token has scheduled and not yet sent."""
    found = await ws.directory.channel(channel) if channel else None
    items = [
        item
        async for item in ws.api.pages(
            "chat.scheduledMessages.list",
            "scheduled_messages",
            channel=found.id if found else None,
            max_items=200,
        )
    ]
    if not items:
        return Result("No scheduled messages.", {"scheduled_messages": []})
    lines, rows = [], []
    for item in items:
        name = await ws.directory.channel_name(item.get("channel_id", ""))
        lines.append(
            f"{item.get('id')} to #{name} at {format_ts(item.get('post_at', 0))} UTC: {item.get('text', '')}"
        )
        rows.append(
            {
                "id": item.get("id"),
                "channel": item.get("channel_id"),
                "post_at": item.get("post_at"),
                "text": item.get("text", ""),
            }
        )
    return Result(f"{len(items)} scheduled messages:\n" + "\n".join(lines), {"scheduled_messages": rows})


def list_workspaces(workspaces: Workspaces) -> Result:
    """The configured workspaces, whether each has a token, and whether it can search."""
    lines, rows = [], []
    for ws in workspaces.items.values():
        state = "token set" if ws.api.token else f"no token ({ws.api.token_source} is not set)"
        search = "search available" if ws.search_api.is_user_token else "search needs a user token"
        default = " (default)" if ws.name == workspaces.default else ""
        lines.append(f"{ws.name}{default}: {state}; {search}")
        rows.append({"name": ws.name, "default": ws.name == workspaces.default, "token": bool(ws.api.token)})
    return Result("\n".join(lines), {"workspaces": rows})


async def channel_directory(ws: Workspace) -> str:
    """Every channel the token can see, one line each, by name (the directory resource)."""
    await ws.directory.load_channels()
    return "\n".join(channel_line(c) for c in sorted(ws.directory.channels.values(), key=lambda c: c.name))


async def user_directory(ws: Workspace) -> str:
    """Every user of the workspace, one line each, by user name (the directory resource)."""
    await ws.directory.load_users()
    return "\n".join(user_line(u) for u in sorted(ws.directory.users.values(), key=lambda u: u.name))
