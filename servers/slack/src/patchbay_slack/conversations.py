"""The conversations toolset: workspaces, channels, history, threads, search, unread counts, reactions.

Every tool here only reads. What Slack returns is written by the workspace's members (messages, channel
names and topics), so each tool that shows it is declared `untrusted=`: the layer frames the text and
sanitizes the structured form. The domain work is in reads.py.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_slack import reads
from patchbay_slack.deps import Channel, Cursor, Deps, Since, ThreadTs, Ts, Until, WorkspaceName

tools = Toolset("conversations", "Read Slack channels, messages, threads and reactions.")


@tools.tool()
async def slack_list_workspaces(deps: Deps) -> Reply:
    """List the Slack workspaces this server is configured for, and whether each has a token."""
    return reads.list_workspaces(deps.workspaces)


@tools.tool(open_world=True, untrusted="slack channels")
async def slack_list_channels(
    deps: Deps,
    limit: Annotated[int, Field(ge=1, le=200, description="Channels per page, 1-200.")] = 100,
    cursor: Cursor = None,
    member_only: Annotated[bool, Field(description="Only channels the app or user belongs to.")] = False,
    include_archived: Annotated[bool, Field(description="Include archived channels.")] = False,
    workspace: WorkspaceName = None,
) -> Reply:
    """List public and private channels the token can see.

    Returns one line per channel with name, ID, member flag, member count and topic, and a cursor
    when more remain.
    """
    return await reads.list_channels(
        deps.workspace(workspace),
        limit=limit,
        cursor=cursor,
        member_only=member_only,
        include_archived=include_archived,
        max_chars=deps.max_chars,
    )


@tools.tool(open_world=True, untrusted="slack messages")
async def slack_get_channel_history(
    deps: Deps,
    channel: Channel,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Most messages to return, 1-200.")] = 50,
    cursor: Cursor = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """Read a channel's messages, newest page first, within an optional time window.

    Returns one line per message (time, author name, ts, replies, reactions, text with mentions
    resolved to names), oldest first, and a cursor for older messages.
    """
    return await reads.channel_history(
        deps.workspace(workspace),
        channel,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        max_chars=deps.max_chars,
    )


@tools.tool(open_world=True, untrusted="slack thread")
async def slack_get_thread_replies(
    deps: Deps,
    channel: Channel,
    thread_ts: ThreadTs,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Most messages to return, 1-200.")] = 100,
    cursor: Cursor = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """Read a thread: the parent message and its replies, oldest first.

    Returns one line per message, as slack_get_channel_history does, and a cursor for later replies.
    """
    return await reads.thread_replies(
        deps.workspace(workspace),
        channel,
        thread_ts,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        max_chars=deps.max_chars,
    )


@tools.tool(open_world=True, untrusted="slack search")
async def slack_search_messages(
    deps: Deps,
    query: Annotated[
        str,
        Field(description="Slack search query; modifiers such as in:#general, from:@name, after:2026-11-01."),
    ],
    count: Annotated[int, Field(ge=1, le=100, description="Messages per page, 1-100.")] = 20,
    page: Annotated[int, Field(ge=1, le=100, description="Page of results, from 1.")] = 1,
    workspace: WorkspaceName = None,
) -> Reply:
    """Search messages with Slack's search, newest first (Slack allows this only to user tokens).

    Returns one line per message with its channel, and the page count.
    """
    return await reads.search_messages(
        deps.workspace(workspace), query, count=count, page=page, max_chars=deps.max_chars
    )


@tools.tool(open_world=True, untrusted="slack unread summary", continuation="pass a smaller max_channels")
async def slack_unread_summary(
    deps: Deps,
    since: Annotated[
        str,
        Field(description="For tokens without read markers (bot tokens): count messages since this time."),
    ] = "1d",
    max_channels: Annotated[int, Field(ge=1, le=100, description="Most member channels to check.")] = 30,
    workspace: WorkspaceName = None,
) -> Reply:
    """Summarise unread messages per channel the token belongs to.

    Returns, for each channel with messages, the count (by the read marker for user tokens, since
    the given time for bot tokens) and the latest message.
    """
    return await reads.unread_summary(
        deps.workspace(workspace), since=since, max_channels=max_channels, max_chars=deps.max_chars
    )


@tools.tool(open_world=True, untrusted="slack permalink")
async def slack_get_permalink(
    deps: Deps, channel: Channel, message_ts: Ts, workspace: WorkspaceName = None
) -> Reply:
    """Return the permanent link (URL) of one message."""
    return await reads.permalink(deps.workspace(workspace), channel, message_ts)


@tools.tool(open_world=True, untrusted="slack reactions")
async def slack_get_reactions(
    deps: Deps, channel: Channel, timestamp: Ts, workspace: WorkspaceName = None
) -> Reply:
    """List the emoji reactions on one message, with the count and who reacted."""
    return await reads.reactions(deps.workspace(workspace), channel, timestamp, max_chars=deps.max_chars)


@tools.tool(open_world=True, untrusted="slack scheduled messages", continuation="name one channel")
async def slack_list_scheduled_messages(
    deps: Deps,
    channel: Annotated[
        str | None, Field(description="Only this channel (name or ID); empty for all.")
    ] = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """List messages this token has scheduled and not yet sent, with ID, channel, time and text."""
    return await reads.scheduled_messages(deps.workspace(workspace), channel, max_chars=deps.max_chars)
