"""patchbay-slack: Slack channels, history, threads, users and search for MCP clients, through slack-sdk.

Read-only unless the operator passes `--allow-post` with a channel allow-list (names or IDs, `!` to
deny); the write tools are not listed without it, and file upload also needs `--upload-dir` (files only
from those directories, through patchbay_common.roots, narrowed by the client's roots). Tokens come from
the environment (SLACK_BOT_TOKEN, SLACK_USER_TOKEN, or one variable per `--workspace NAME=VAR`) and are
redacted everywhere. The server starts and lists its tools with no token at all; each call then says how
to configure one. The channel and user name cache warms in the background after start-up and never
delays `initialize` (domain logic in api.py, directory.py, reads.py, posts.py; nothing there knows MCP).
Slack's `ok:false` answers and 429s reach the model as isError texts that say what to do next. It serves
both protocol eras over stdio, SSE and streamable HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp_types import CallToolResult, TextContent
from pydantic import Field, field_validator

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_slack import __version__, reads
from patchbay_slack.api import DEFAULT_BASE_URL
from patchbay_slack.policy import PostPolicy
from patchbay_slack.posts import Poster
from patchbay_slack.reads import Result
from patchbay_slack.workspaces import Workspaces

log = get_logger("patchbay.slack")


class Settings(CommonSettings):
    """Flags of patchbay-slack (each also PATCHBAY_SLACK_<FLAG>); tokens come from the environment."""

    model_config = settings_config("slack")

    workspace: list[str] = Field(
        default_factory=list,
        description="A workspace as NAME=ENV_VAR (token in that variable), or NAME=ENV_VAR:USER_ENV_VAR to "
        "add a user token for search (repeatable; the first is the default). Without it: SLACK_BOT_TOKEN.",
    )
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Slack Web API.")
    allow_post: str | None = Field(
        None,
        description="Enable the write tools for these channels: comma-separated names or IDs, '*' for all, "
        "'!name' to deny (denials win).",
    )
    unfurl: bool = Field(False, description="Let Slack unfurl links and media in posted messages.")
    upload_dir: list[Path] = Field(
        default_factory=list,
        description="A directory files may be uploaded from (repeatable; needs --allow-post).",
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest file slack_upload_file sends.")
    request_timeout: float = Field(15.0, gt=0, description="Seconds one HTTP request to Slack may take.")
    max_retry_wait: float = Field(
        20.0,
        ge=0,
        description="Longest Retry-After (seconds) waited for; a longer one fails the call at once.",
    )
    cache_ttl: float = Field(3600.0, gt=0, description="Seconds the channel and user name cache is kept.")
    warm_cache: bool = Field(True, description="Load channel and user names in the background at start-up.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"


Workspace = Annotated[
    str | None, Field(description="Name of the workspace (see slack_list_workspaces); empty for the default.")
]
Channel = Annotated[str, Field(description="Channel name (#general or general) or ID (C0123ABC).")]
Since = Annotated[
    str | None,
    Field(
        description="Start of the time window: 30m, 2h, 1d, 1w ago, an ISO date or date-time (UTC), or a ts."
    ),
]
Until = Annotated[str | None, Field(description="End of the time window, in the same forms as since.")]
Cursor = Annotated[str | None, Field(description="The cursor a previous result gave, to continue it.")]
Ts = Annotated[str, Field(description="Timestamp (ts) of the message, e.g. 1700000000.000100.")]

Text = Annotated[str, Field(description="Message text (Slack mrkdwn), at most 40,000 characters.")]

READ = hints(read_only=True, open_world=True)


def _result(result: Result) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=result.text)], structured_content=result.data
    )


def build(settings: Settings) -> PatchbayServer:
    """The server: read tools always, write tools when --allow-post is given, upload with --upload-dir."""
    workspaces = Workspaces.from_config(
        settings.workspace,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_wait=min(settings.max_retry_wait, settings.tool_timeout / 2),
        cache_ttl=settings.cache_ttl,
    )
    policy = PostPolicy.parse(settings.allow_post) if settings.allow_post else None
    if settings.upload_dir and policy is None:
        raise ValueError("--upload-dir needs --allow-post (uploading posts the file to a channel)")
    roots = Roots(settings.upload_dir) if settings.upload_dir else None
    chars = settings.max_output_chars

    @asynccontextmanager
    async def warm_in_background(_: Any) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            if settings.warm_cache:
                for ws in workspaces.items.values():
                    if ws.api.token and ws.directory.users_loaded_at is None:
                        group.start_soon(ws.directory.warm)
            yield {}
            group.cancel_scope.cancel()

    mcp = PatchbayServer(
        "patchbay-slack", version=__version__, settings=settings, roots=roots, lifespan=warm_in_background
    )
    mcp.workspaces = workspaces  # type: ignore[attr-defined]  # for tests and forks

    @mcp.tool(annotations=hints(read_only=True))
    async def slack_list_workspaces() -> CallToolResult:
        """List the Slack workspaces this server is configured for, and whether each has a token."""
        return _result(reads.list_workspaces(workspaces))

    @mcp.tool(annotations=READ)
    async def slack_list_channels(
        limit: Annotated[int, Field(ge=1, le=200, description="Channels per page, 1-200.")] = 100,
        cursor: Cursor = None,
        member_only: Annotated[bool, Field(description="Only channels the app or user belongs to.")] = False,
        include_archived: Annotated[bool, Field(description="Include archived channels.")] = False,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """List public and private channels the token can see.

        Returns one line per channel with name, ID, member flag, member count and topic, and a cursor
        when more remain.
        """
        ws = workspaces.get(workspace)
        return _result(
            await reads.list_channels(
                ws,
                limit=limit,
                cursor=cursor,
                member_only=member_only,
                include_archived=include_archived,
                max_chars=chars,
            )
        )

    @mcp.tool(annotations=READ)
    async def slack_get_channel_history(
        channel: Channel,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Most messages to return, 1-200.")] = 50,
        cursor: Cursor = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Read a channel's messages, newest page first, within an optional time window.

        Returns one line per message (time, author name, ts, replies, reactions, text with mentions
        resolved to names), oldest first, and a cursor for older messages.
        """
        ws = workspaces.get(workspace)
        return _result(
            await reads.channel_history(
                ws, channel, since=since, until=until, limit=limit, cursor=cursor, max_chars=chars
            )
        )

    @mcp.tool(annotations=READ)
    async def slack_get_thread_replies(
        channel: Channel,
        thread_ts: Annotated[str, Field(description="Timestamp (ts) of the thread's parent message.")],
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Field(ge=1, le=200, description="Most messages to return, 1-200.")] = 100,
        cursor: Cursor = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Read a thread: the parent message and its replies, oldest first.

        Returns one line per message, as slack_get_channel_history does, and a cursor for later replies.
        """
        ws = workspaces.get(workspace)
        return _result(
            await reads.thread_replies(
                ws,
                channel,
                thread_ts,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
                max_chars=chars,
            )
        )

    @mcp.tool(annotations=READ)
    async def slack_get_users(
        limit: Annotated[int, Field(ge=1, le=200, description="Users per page, 1-200.")] = 100,
        cursor: Cursor = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """List the workspace's users.

        Returns one line per user with handle, ID, real name, title, time zone and bot/deactivated
        flags, and a cursor when more remain.
        """
        ws = workspaces.get(workspace)
        return _result(await reads.list_users(ws, limit=limit, cursor=cursor, max_chars=chars))

    @mcp.tool(annotations=READ)
    async def slack_search_users(
        query: Annotated[str, Field(description="Part of a user name, display name or real name.")],
        limit: Annotated[int, Field(ge=1, le=100, description="Most users to return, 1-100.")] = 20,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Find users whose user name, display name or real name contains the query (case-insensitive).

        Returns one line per user, as slack_get_users does.
        """
        return _result(await reads.search_users(workspaces.get(workspace), query, limit=limit))

    @mcp.tool(annotations=READ)
    async def slack_get_user_profile(
        user: Annotated[
            str, Field(description="User ID (U0123ABC) or name (@spengler, spengler, or real name).")
        ],
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Return a user's profile: names, title, email, phone, status, time zone and custom fields."""
        return _result(await reads.user_profile(workspaces.get(workspace), user))

    @mcp.tool(annotations=READ)
    async def slack_search_messages(
        query: Annotated[
            str,
            Field(
                description="Slack search query; modifiers such as in:#general, from:@name, after:2026-11-01."
            ),
        ],
        count: Annotated[int, Field(ge=1, le=100, description="Messages per page, 1-100.")] = 20,
        page: Annotated[int, Field(ge=1, le=100, description="Page of results, from 1.")] = 1,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Search messages with Slack's search, newest first (Slack allows this only to user tokens).

        Returns one line per message with its channel, and the page count.
        """
        return _result(
            await reads.search_messages(
                workspaces.get(workspace), query, count=count, page=page, max_chars=chars
            )
        )

    @mcp.tool(annotations=READ)
    async def slack_unread_summary(
        since: Annotated[
            str,
            Field(
                description="For tokens without read markers (bot tokens): count messages since this time."
            ),
        ] = "1d",
        max_channels: Annotated[int, Field(ge=1, le=100, description="Most member channels to check.")] = 30,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Summarise unread messages per channel the token belongs to.

        Returns, for each channel with messages, the count (by the read marker for user tokens, since
        the given time for bot tokens) and the latest message.
        """
        return _result(
            await reads.unread_summary(
                workspaces.get(workspace), since=since, max_channels=max_channels, max_chars=chars
            )
        )

    @mcp.tool(annotations=READ)
    async def slack_get_permalink(
        channel: Channel, message_ts: Ts, workspace: Workspace = None
    ) -> CallToolResult:
        """Return the permanent link (URL) of one message."""
        return _result(await reads.permalink(workspaces.get(workspace), channel, message_ts))

    @mcp.tool(annotations=READ)
    async def slack_get_reactions(
        channel: Channel, timestamp: Ts, workspace: Workspace = None
    ) -> CallToolResult:
        """List the emoji reactions on one message, with the count and who reacted."""
        return _result(await reads.reactions(workspaces.get(workspace), channel, timestamp))

    @mcp.tool(annotations=READ)
    async def slack_list_scheduled_messages(
        channel: Annotated[
            str | None, Field(description="Only this channel (name or ID); empty for all.")
        ] = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """List messages this token has scheduled and not yet sent, with ID, channel, time and text."""
        return _result(await reads.scheduled_messages(workspaces.get(workspace), channel))

    @mcp.resource("slack://{workspace}/channels", mime_type="text/plain")
    async def channel_directory(workspace: str) -> str:
        """Every channel of the workspace the token can see, one line each (name, ID, flags, topic)."""
        ws = workspaces.get(None if workspace == "default" else workspace)
        return await reads.channel_directory(ws)

    @mcp.resource("slack://{workspace}/users", mime_type="text/plain")
    async def user_directory(workspace: str) -> str:
        """Every user of the workspace, one line each (handle, ID, real name, title, time zone)."""
        ws = workspaces.get(None if workspace == "default" else workspace)
        return await reads.user_directory(ws)

    if policy is None:
        return mcp

    poster = Poster(policy, unfurl=settings.unfurl, max_upload_bytes=settings.max_upload_bytes)

    @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=False, open_world=True))
    async def slack_post_message(channel: Channel, text: Text, workspace: Workspace = None) -> CallToolResult:
        """Post a message to a channel on the server's allow-list; returns the new message's ts."""
        return _result(await poster.post(workspaces.get(workspace), channel, text))

    @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=False, open_world=True))
    async def slack_reply_to_thread(
        channel: Channel,
        thread_ts: Annotated[str, Field(description="Timestamp (ts) of the thread's parent message.")],
        text: Text,
        also_send_to_channel: Annotated[
            bool, Field(description="Also show the reply in the channel.")
        ] = False,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Reply in a thread of a channel on the server's allow-list; returns the reply's ts."""
        return _result(
            await poster.post(
                workspaces.get(workspace), channel, text, thread_ts=thread_ts, broadcast=also_send_to_channel
            )
        )

    @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=True, open_world=True))
    async def slack_add_reaction(
        channel: Channel,
        timestamp: Ts,
        reaction: Annotated[str, Field(description="Emoji name without colons, e.g. thumbsup.")],
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Add an emoji reaction to a message in a channel on the server's allow-list."""
        return _result(await poster.react(workspaces.get(workspace), channel, timestamp, reaction))

    @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=False, open_world=True))
    async def slack_schedule_message(
        channel: Channel,
        text: Text,
        post_at: Annotated[
            str,
            Field(
                description="When to post: an ISO date-time (UTC unless an offset is given) or a Unix time."
            ),
        ],
        thread_ts: Annotated[str | None, Field(description="Post as a reply in this thread.")] = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Schedule a message for a channel on the server's allow-list; returns the scheduled message ID."""
        return _result(
            await poster.schedule(workspaces.get(workspace), channel, text, post_at, thread_ts=thread_ts)
        )

    @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True, open_world=True))
    async def slack_delete_scheduled_message(
        channel: Channel,
        scheduled_message_id: Annotated[str, Field(description="ID from slack_list_scheduled_messages.")],
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Delete a scheduled message before it is sent (channel on the server's allow-list)."""
        return _result(await poster.unschedule(workspaces.get(workspace), channel, scheduled_message_id))

    if roots is None:
        return mcp

    @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=False, open_world=True))
    async def slack_upload_file(
        channel: Channel,
        path: Annotated[str, Field(description="Path of the file, inside the server's upload directories.")],
        roots: AllowedRoots,
        title: Annotated[
            str | None, Field(description="Title shown in Slack; the file name when empty.")
        ] = None,
        comment: Annotated[str | None, Field(description="Message posted with the file.")] = None,
        thread_ts: Annotated[
            str | None, Field(description="Post the file as a reply in this thread.")
        ] = None,
        workspace: Workspace = None,
    ) -> CallToolResult:
        """Upload a file from the server's upload directories to a channel on the allow-list."""
        return _result(
            await poster.upload(
                workspaces.get(workspace),
                roots,
                channel,
                path,
                title=title,
                comment=comment,
                thread_ts=thread_ts,
            )
        )

    return mcp


def main() -> None:
    """Console entry point: `patchbay-slack [flags]`."""
    serve(build, Settings, secret_env=["SLACK_BOT_TOKEN"])
