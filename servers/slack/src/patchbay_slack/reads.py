"""What the read tools do, without MCP: call Slack, resolve names, and lay the answer out as a `Reply`.

Everything Slack returns (messages, names, topics, profiles) goes in `Reply.content`, which the layer frames
as untrusted data, and in `Reply.structured`, whose strings it sanitizes; `Reply.note` holds only our own
words (counts, the cursor that continues). Every listing is bounded by a count and by the server's
character budget, which text and structured form share: a page holds what fits both, and the cursor in its
note continues exactly after the last item shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anyio

from patchbay_common.errors import Partial, UserError
from patchbay_common.limits import decode_cursor, encode_cursor, truncation_marker
from patchbay_common.results import Reply
from patchbay_slack.directory import CHANNEL_TYPES, Channel, Directory, User
from patchbay_slack.render import channel_line, message_users, render_message, user_line
from patchbay_slack.timewindow import format_ts, is_slack_ts, parse_time, slack_ts, ts_value
from patchbay_slack.workspaces import Workspace, Workspaces

__all__ = ["fit", "item_room"]

_FRAME = 400  # characters the untrusted-data frame and separators take, with a margin
_MAX_SKIP = 1000  # Slack pages hold at most 1000 items: a cursor's skip is never more
_CURSOR_FIELDS = {"o": "start of the time window", "l": "end of the time window", "s": "last reply shown"}
_SLACK_CURSOR = re.compile(r"^[A-Za-z0-9+/=_:.-]{1,2000}$")


def item_room(max_chars: int) -> int:
    """Characters one item (a message, a line) may take so that text and structured halves both fit."""
    return max(200, max_chars // 2 - 2 * _FRAME)


def _clip(value: Any, room: int, extra: int = 0) -> Any:
    """`value` (JSON-like) with every string longer than `room` cut, marking how much was left out.

    `extra` counts characters cut off before (`_precut`); it is added to the marker of a string.
    """
    if isinstance(value, str):
        if len(value) <= room and not extra:
            return value
        kept = value[:room]
        return f"{kept} [message cut: {len(value) - len(kept) + extra} more characters]"
    if isinstance(value, dict):
        return {k: _clip(v, room) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v, room) for v in value]
    return value


def _precut(messages: list[dict[str, Any]], room: int) -> list[tuple[dict[str, Any], int]]:
    """Each message with its text cut to what can still be shown, and how many characters were cut.

    A message is shown with at most `room` characters, so rendering (mentions and links resolved) more
    than twice that is wasted work on text a sender chose: a megabyte message would cost seconds.
    """
    out = []
    for message in messages:
        text = message.get("text")
        if isinstance(text, str) and len(text) > 2 * room:
            out.append(({**message, "text": text[: 2 * room]}, len(text) - 2 * room))
        else:
            out.append((message, 0))
    return out


def _rendered(
    message: dict[str, Any], cut: int, directory: Directory, room: int
) -> tuple[str, dict[str, Any]]:
    """One pre-cut message as a clipped line and row; their markers also count what `_precut` cut."""
    line, row = render_message(message, directory)
    clipped = _clip(row, room)
    if cut and isinstance(row.get("text"), str):
        clipped["text"] = _clip(row["text"], room, cut)
    return _clip(line, room, cut), clipped


async def fit_off_loop(make: Callable[[int], Reply], most: int, max_chars: int) -> Reply:
    """`fit` in a worker thread: each try serializes up to a budget's worth of messages."""
    return await anyio.to_thread.run_sync(fit, make, most, max_chars)


def _size(reply: Reply) -> int:
    """About the characters `reply` takes once framed: text, note and serialized structured form."""
    data = reply.structured
    structured = 0 if data is None else len(json.dumps(data, ensure_ascii=False, default=str))
    return len(reply.content) + len(reply.note) + structured + _FRAME


def fit(make: Callable[[int], Reply], most: int, max_chars: int) -> Reply:
    """`make(keep)` for the largest `keep` <= `most` whose answer fits `max_chars` (at least one item)."""
    if most <= 1:
        return make(max(most, 0))
    best = make(1)
    low, high = 2, most
    while low <= high:
        middle = (low + high) // 2
        candidate = make(middle)
        if _size(candidate) <= max_chars:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    oldest = slack_ts(parse_time(since, name="since")) if since else None
    latest = slack_ts(parse_time(until, name="until")) if until else None
    if oldest and latest and ts_value(oldest) >= ts_value(latest):
        raise UserError(
            f"since ({since}) is not before until ({until}).", hint="Swap them or widen the window."
        )
    return oldest, latest


async def _render(
    messages: list[dict[str, Any]], directory: Directory, max_chars: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Lines and rows for `messages`; a message longer than one item may take is cut with a marker.

    Resolving mentions and links in up to 200 long messages is CPU work: it runs in a worker thread,
    so the server keeps answering other calls meanwhile.
    """
    room = item_room(max_chars)
    cut = _precut(messages, room)
    await directory.fill_users(message_users([m for m, _ in cut]))

    def work() -> list[tuple[str, dict[str, Any]]]:
        return [_rendered(m, n, directory, room) for m, n in cut]

    rendered = await anyio.to_thread.run_sync(work)
    return [line for line, _ in rendered], [row for _, row in rendered]


def _cursor_state(cursor: str, kind: str, scope: str) -> dict[str, Any]:
    state = decode_cursor(cursor)
    if state.get("k") != kind or state.get("ch") != scope:
        raise UserError(
            "The cursor belongs to another listing.",
            hint="Pass the cursor with the same channel (and thread) it came from, or omit it to start over.",
        )
    return state


def _ts_field(state: dict[str, Any], key: str) -> str | None:
    """A timestamp from a cursor, checked again (a cursor may be old): a Slack ts or nothing."""
    value = state.get(key)
    if value is None:
        return None
    if not is_slack_ts(value):
        raise UserError(
            f"The cursor is not valid: its {_CURSOR_FIELDS.get(key, key)} is not a Slack timestamp.",
            hint="Omit the cursor to start over.",
        )
    return str(value)


async def channel_history(
    ws: Workspace,
    channel: str,
    *,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    max_chars: int,
) -> Reply:
    """Messages of a channel in a time window, newest page first, shown oldest first."""
    found = await ws.directory.channel(channel)
    if cursor:
        state = _cursor_state(cursor, "h", found.id)
        oldest, latest = _ts_field(state, "o"), _ts_field(state, "l")
    else:
        oldest, latest = _window(since, until)
    data = await ws.api.call(
        "conversations.history", channel=found.id, oldest=oldest, latest=latest, limit=limit
    )
    raw = data.get("messages") or []  # newest first
    messages = raw[:limit]
    lines, rows = await _render(messages, ws.directory, max_chars)
    window = _describe_window(oldest, latest)
    where = {"id": found.id, "name": found.name}

    def make(keep: int) -> Reply:
        more = keep < len(raw) or bool(data.get("has_more"))
        next_cursor = (
            encode_cursor({"k": "h", "ch": found.id, "o": oldest, "l": messages[keep - 1]["ts"]})
            if more and keep
            else None
        )
        shown_lines, shown_rows = lines[:keep][::-1], rows[:keep][::-1]
        structured = {"channel": where, "messages": shown_rows, "next_cursor": next_cursor}
        note = f"Older messages: call again with cursor={next_cursor}" if next_cursor else ""
        if not shown_lines:
            return Reply(f"#{found.name} ({found.id}): no messages{window}.", note, structured)
        header = (
            f"#{found.name} ({found.id}): {len(shown_lines)} messages{window}, oldest first, "
            f"{format_ts(shown_rows[0]['ts'])} to {format_ts(shown_rows[-1]['ts'])} UTC."
        )
        return Reply("\n".join([header, *shown_lines]), note, structured)

    return await fit_off_loop(make, len(messages), max_chars)


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
) -> Reply:
    """The parent message and replies of a thread, oldest first."""
    found = await ws.directory.channel(channel)
    thread_ts = thread_ts.strip()
    key = f"{found.id}/{thread_ts}"
    skip_through: str | None = None
    if cursor:
        state = _cursor_state(cursor, "r", key)
        oldest, latest = _ts_field(state, "o"), _ts_field(state, "l")
        skip_through = _ts_field(state, "s")
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
    where = {"id": found.id, "name": found.name}

    def make(keep: int) -> Reply:
        next_cursor = (
            encode_cursor({"k": "r", "ch": key, "o": oldest, "l": latest, "s": messages[keep - 1]["ts"]})
            if (more or keep < len(messages)) and keep
            else None
        )
        structured = {
            "channel": where,
            "thread_ts": thread_ts,
            "messages": rows[:keep],
            "next_cursor": next_cursor,
        }
        note = f"Later replies: call again with cursor={next_cursor}" if next_cursor else ""
        if not lines:
            window = _describe_window(oldest, latest)
            return Reply(f"Thread {thread_ts} in #{found.name}: no messages{window}.", note, structured)
        header = f"Thread {thread_ts} in #{found.name} ({found.id}): {keep} messages, oldest first."
        return Reply("\n".join([header, *lines[:keep]]), note, structured)

    return await fit_off_loop(make, len(messages), max_chars)


def _resume(cursor: str | None, kind: str, ws: Workspace, limit: int) -> tuple[dict[str, Any], int]:
    """The state of a listing cursor (Slack's own cursor inside ours) and the page size to ask Slack for."""
    if not cursor:
        return {}, limit
    state = _cursor_state(cursor, kind, ws.name)
    skip, size, inner = state.get("s", 0), state.get("n", limit), state.get("c")
    valid = (
        type(skip) is int
        and type(size) is int
        and 0 <= skip < size <= _MAX_SKIP
        and (inner is None or (isinstance(inner, str) and bool(_SLACK_CURSOR.match(inner))))
        and all(type(state.get(flag, False)) is bool for flag in ("m", "a"))
    )
    if not valid:
        raise UserError("The cursor is not valid.", hint="Omit it to start over.")
    return state, size if skip else limit


def _continue(
    kind: str,
    ws: Workspace,
    state: dict[str, Any],
    size: int,
    shown: int,
    total: int,
    slack_next: str | None,
    **more: Any,
) -> str | None:
    """The cursor after `shown` items of a Slack page of `total` (from skip on), or None at the end."""
    skip = int(state.get("s", 0))
    if skip + shown < total:  # the budget cut this page: continue inside it
        return encode_cursor(
            {"k": kind, "ch": ws.name, "c": state.get("c"), "s": skip + shown, "n": size, **more}
        )
    if slack_next:
        return encode_cursor({"k": kind, "ch": ws.name, "c": slack_next, **more})
    return None


def _listing_note(noun: str, shown: int, cut: bool, next_cursor: str | None) -> str:
    if not next_cursor:
        return ""
    if cut:
        return truncation_marker(f"{shown} {noun} (character limit)", f"call again with cursor={next_cursor}")
    return f"More {noun}: call again with cursor={next_cursor}"


async def list_channels(
    ws: Workspace,
    *,
    limit: int,
    cursor: str | None,
    member_only: bool,
    include_archived: bool,
    max_chars: int,
) -> Reply:
    """One page of channels (public and private the token can see)."""
    state, size = _resume(cursor, "c", ws, limit)
    if state:
        member_only, include_archived = bool(state.get("m")), bool(state.get("a"))
    method = "users.conversations" if member_only else "conversations.list"
    data = await ws.api.call(
        method, types=CHANNEL_TYPES, exclude_archived=not include_archived, limit=size, cursor=state.get("c")
    )
    channels = [Channel.from_api(raw) for raw in (data.get("channels") or [])[:_MAX_SKIP]]
    for channel in channels:
        if member_only:  # users.conversations lists only the token's own channels
            channel = Channel(**{**channel.__dict__, "is_member": True})
        ws.directory.channels[channel.id] = channel
    skip = int(state.get("s", 0))
    total = len(channels)
    channels = [ws.directory.channels[c.id] for c in channels[skip : skip + limit]]
    slack_next = (data.get("response_metadata") or {}).get("next_cursor") or None
    room = item_room(max_chars)
    lines = [_clip(channel_line(c), room) for c in channels]
    rows = [_clip(_channel_data(c), room) for c in channels]

    def make(keep: int) -> Reply:
        next_cursor = _continue(
            "c", ws, state, size, keep, total, slack_next, m=member_only, a=include_archived
        )
        note = _listing_note("channels", keep, keep < len(channels), next_cursor)
        structured = {"channels": rows[:keep], "next_cursor": next_cursor}
        if not channels:
            return Reply(f"No channels in workspace '{ws.name}' match.", note, structured)
        head = f"{keep} channels in workspace '{ws.name}':"
        return Reply("\n".join([head, *lines[:keep]]), note, structured)

    return fit(make, len(channels), max_chars)


def _channel_data(c: Channel) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "is_private": c.is_private,
        "is_archived": c.is_archived,
        "is_member": c.is_member,
        "num_members": c.num_members,
        "topic": c.topic,
    }


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


async def list_users(ws: Workspace, *, limit: int, cursor: str | None, max_chars: int) -> Reply:
    """One page of the workspace's users."""
    state, size = _resume(cursor, "u", ws, limit)
    data = await ws.api.call("users.list", limit=size, cursor=state.get("c"))
    users = [User.from_api(raw) for raw in (data.get("members") or [])[:_MAX_SKIP]]
    for user in users:
        ws.directory.users[user.id] = user
    total = len(users)
    users = users[int(state.get("s", 0)) :][:limit]
    slack_next = (data.get("response_metadata") or {}).get("next_cursor") or None
    room = item_room(max_chars)
    lines = [_clip(user_line(u), room) for u in users]
    rows = [_clip(_user_data(u), room) for u in users]

    def make(keep: int) -> Reply:
        next_cursor = _continue("u", ws, state, size, keep, total, slack_next)
        note = _listing_note("users", keep, keep < len(users), next_cursor)
        head = f"{keep} users in workspace '{ws.name}':"
        return Reply(
            "\n".join([head, *lines[:keep]]), note, {"users": rows[:keep], "next_cursor": next_cursor}
        )

    return fit(make, len(users), max_chars)


async def search_users(ws: Workspace, query: str, *, limit: int, max_chars: int) -> Reply:
    """Users whose user name, display name or real name contains `query` (from the name cache)."""
    if not query.strip():
        raise UserError("The query is empty.", hint="Give part of a name, e.g. 'spen'.")
    await ws.directory.load_users()
    found = ws.directory.find_users(query.lstrip("@"))
    shown = found[:limit]
    if not shown:
        return Reply(f"No user's name contains {query!r}.", structured={"users": []})
    room = item_room(max_chars)
    lines = [_clip(user_line(u), room) for u in shown]
    rows = [_clip(_user_data(u), room) for u in shown]

    def make(keep: int) -> Reply:
        head = f"{len(found)} users match {query!r}" + (f" (first {keep} shown)" if len(found) > keep else "")
        note = ""
        if keep < len(shown):
            note = truncation_marker(f"{keep} users (character limit)", "call again with a longer query")
        return Reply("\n".join([head + ":", *lines[:keep]]), note, {"users": rows[:keep]})

    return fit(make, len(shown), max_chars)


async def user_profile(ws: Workspace, user: str, *, max_chars: int) -> Reply:
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
    status = " ".join(str(p) for p in (profile.get("status_emoji"), profile.get("status_text")) if p)
    if status:
        lines.append(f"Status: {status}")
    fields = profile.get("fields") or {}
    for field_data in fields.values() if isinstance(fields, dict) else []:
        if isinstance(field_data, dict) and field_data.get("value"):
            lines.append(f"{field_data.get('label') or 'Field'}: {field_data['value']}")
    keep = ("real_name", "display_name", "title", "email", "phone", "pronouns", "status_text", "status_emoji")
    room = item_room(max_chars)
    lines = [_clip(line, room) for line in lines]
    data = {"user": _user_data(found), "profile": {k: profile[k] for k in keep if profile.get(k)}}
    structured = _clip(data, max(100, room // 8))  # sixteen fields: each gets a share of the half

    def make(shown: int) -> Reply:
        note = ""
        if shown < len(lines):
            note = truncation_marker(f"{shown} of {len(lines)} profile lines (character limit)", "")
        return Reply("\n".join(lines[:shown]), note, structured)

    return fit(make, len(lines), max_chars)


async def search_messages(ws: Workspace, query: str, *, count: int, page: int, max_chars: int) -> Reply:
    """Messages matching a Slack search query (needs a user token)."""
    if not query.strip():
        raise UserError(
            "The query is empty.", hint="Give words to find; Slack modifiers such as in:#general work."
        )
    data = await ws.search_api.call("search.messages", query=query, count=count, page=page, sort="timestamp")
    block = data.get("messages") or {}
    matches = (block.get("matches") or [])[:count]
    paging = block.get("paging") or block.get("pagination") or {}
    total = int(block.get("total") or paging.get("total") or paging.get("total_count") or len(matches))
    pages = int(paging.get("pages") or paging.get("page_count") or 1)
    if not matches:
        return Reply(f"No messages match {query!r}.", structured={"total": 0, "messages": []})
    room = item_room(max_chars)
    cut = _precut(matches, room)
    await ws.directory.fill_users(message_users([m for m, _ in cut]))

    def work() -> tuple[list[str], list[dict[str, Any]]]:
        lines, rows = [], []
        for match, dropped in cut:
            line, row = _rendered(match, dropped, ws.directory, room)
            given = match.get("channel")
            channel: dict[str, Any] = given if isinstance(given, dict) else {}
            where = str(channel.get("name") or channel.get("id", "?"))[:200]
            lines.append(_clip(f"#{where} {line}", room))
            row["channel"] = where
            if match.get("permalink"):
                row["permalink"] = _clip(str(match["permalink"]), 500)
            rows.append(row)
        return lines, rows

    lines, rows = await anyio.to_thread.run_sync(work)

    def make(keep: int) -> Reply:
        head = f"{total} messages match {query!r}; page {page} of {pages}, newest first:"
        notes = []
        if keep < len(matches):
            notes.append(
                truncation_marker(
                    f"{keep} of the {len(matches)} messages on page {page} (character limit)",
                    f"call again with count={keep} and page={(page - 1) * count // keep + 2}"
                    if (page - 1) * count % keep == 0 and (page - 1) * count // keep + 2 <= 100
                    else "call again with a smaller count",
                )
            )
        elif page < pages:
            notes.append(f"More: call again with page={page + 1}")
        structured = {"total": total, "page": page, "pages": pages, "messages": rows[:keep]}
        return Reply("\n".join([head, *lines[:keep]]), "\n".join(notes), structured)

    return await fit_off_loop(make, len(matches), max_chars)


async def unread_summary(ws: Workspace, *, since: str, max_channels: int, max_chars: int) -> Reply:
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
            latest_line, _ = render_message(_precut([latest], 300)[0][0], ws.directory)
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
    failed = [partial.note()] if partial.failures else []  # names and Slack's words: framed with the rest
    if not lines:
        empty = f"No messages {basis} in the {len(channels)} channels the token belongs to."
        return Reply("\n".join([empty, *failed]), structured={"channels": []})
    room = item_room(max_chars)
    lines = [_clip(line, room) for line in lines]
    rows = [_clip(row, room) for row in rows]

    def make(keep: int) -> Reply:
        head = f"{len(lines)} of {len(channels)} member channels have messages {basis}:"
        note = ""
        if keep < len(lines):
            shown = f"{keep} of {len(lines)} channels (character limit)"
            note = truncation_marker(shown, "call again with a smaller max_channels")
        return Reply("\n".join([head, *lines[:keep], *failed]), note, {"channels": rows[:keep]})

    return fit(make, len(lines), max_chars)


async def permalink(ws: Workspace, channel: str, message_ts: str) -> Reply:
    """The permanent link of one message."""
    found = await ws.directory.channel(channel)
    data = await ws.api.call("chat.getPermalink", channel=found.id, message_ts=message_ts.strip())
    link = str(data.get("permalink", ""))
    return Reply(link, structured={"channel": found.id, "ts": message_ts, "permalink": link})


async def reactions(ws: Workspace, channel: str, timestamp: str, *, max_chars: int) -> Reply:
    """The reactions on one message, with who reacted."""
    found = await ws.directory.channel(channel)
    data = await ws.api.call("reactions.get", channel=found.id, timestamp=timestamp.strip(), full=True)
    message = data.get("message") or {}
    items = message.get("reactions") or []
    await ws.directory.fill_users({u for r in items for u in r.get("users") or []})
    lines, rows = [], []
    room = item_room(max_chars)
    for item in items:
        who = [f"@{ws.directory.user_handle(u) or u}" for u in item.get("users") or []]
        count = int(item.get("count", len(who)))
        extra = f" and {count - len(who)} more" if count > len(who) else ""
        lines.append(_clip(f":{item.get('name')}: x{count}: {', '.join(who)}{extra}", room))
        rows.append(_clip({"name": item.get("name"), "count": count, "users": item.get("users") or []}, room))
    if not lines:
        return Reply(f"No reactions on message {timestamp} in #{found.name}.", structured={"reactions": []})

    def make(keep: int) -> Reply:
        note = ""
        if keep < len(lines):
            note = truncation_marker(f"{keep} of {len(lines)} reactions (character limit)", "")
        head = f"Reactions on message {timestamp} in #{found.name}:"
        return Reply("\n".join([head, *lines[:keep]]), note, {"reactions": rows[:keep]})

    return fit(make, len(lines), max_chars)


async def scheduled_messages(ws: Workspace, channel: str | None, *, max_chars: int) -> Reply:
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
        return Reply("No scheduled messages.", structured={"scheduled_messages": []})
    lines, rows = [], []
    room = item_room(max_chars)
    for item in items:
        name = await ws.directory.channel_name(item.get("channel_id", ""))
        when = format_ts(item.get("post_at", 0))
        lines.append(_clip(f"{item.get('id')} to #{name} at {when} UTC: {item.get('text', '')}", room))
        rows.append(
            _clip(
                {
                    "id": item.get("id"),
                    "channel": item.get("channel_id"),
                    "post_at": item.get("post_at"),
                    "text": item.get("text", ""),
                },
                room,
            )
        )

    def make(keep: int) -> Reply:
        note = ""
        if keep < len(lines):
            shown = f"{keep} of {len(lines)} scheduled messages (character limit)"
            note = truncation_marker(shown, "call again naming one channel")
        head = f"{len(items)} scheduled messages:"
        return Reply("\n".join([head, *lines[:keep]]), note, {"scheduled_messages": rows[:keep]})

    return fit(make, len(lines), max_chars)


def list_workspaces(workspaces: Workspaces) -> Reply:
    """The configured workspaces, whether each has a token, and whether it can search."""
    lines, rows = [], []
    for ws in workspaces.items.values():
        state = "token set" if ws.api.token else f"no token ({ws.api.token_source} is not set)"
        search = "search available" if ws.search_api.is_user_token else "search needs a user token"
        default = " (default)" if ws.name == workspaces.default else ""
        lines.append(f"{ws.name}{default}: {state}; {search}")
        rows.append({"name": ws.name, "default": ws.name == workspaces.default, "token": bool(ws.api.token)})
    return Reply("\n".join(lines), structured={"workspaces": rows})


async def channel_directory(ws: Workspace) -> str:
    """Every channel the token can see, one line each, by name (the directory resource)."""
    await ws.directory.load_channels()
    return "\n".join(channel_line(c) for c in sorted(ws.directory.channels.values(), key=lambda c: c.name))


async def user_directory(ws: Workspace) -> str:
    """Every user of the workspace, one line each, by user name (the directory resource)."""
    await ws.directory.load_users()
    return "\n".join(user_line(u) for u in sorted(ws.directory.users.values(), key=lambda u: u.name))
