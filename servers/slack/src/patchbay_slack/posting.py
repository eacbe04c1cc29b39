"""The posting toolset: post, reply, react, schedule, unschedule and upload, to allow-listed channels only.

Every tool needs the `post` access, which the server grants only with `--allow-post`; without it none of
them is listed. The allow-list itself is checked in posts.py before anything reaches Slack, and
`slack_upload_file` is registered only when the operator also gave `--upload-dir`. Their answers are our
own words (channel label, ts, IDs) and carry no message text back.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.client_roots import AllowedRoots
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_slack.deps import Channel, Deps, Text, ThreadTs, Ts, WorkspaceName

tools = Toolset("posting", "Post to Slack channels on the server's allow-list.")

POST = "post"
UPLOAD = "slack_upload_file"


@tools.tool(access=POST, open_world=True)
async def slack_post_message(
    deps: Deps, channel: Channel, text: Text, workspace: WorkspaceName = None
) -> Reply:
    """Post a message to a channel on the server's allow-list; returns the new message's ts."""
    return await deps.writer.post(deps.workspace(workspace), channel, text)


@tools.tool(access=POST, open_world=True)
async def slack_reply_to_thread(
    deps: Deps,
    channel: Channel,
    thread_ts: ThreadTs,
    text: Text,
    also_send_to_channel: Annotated[bool, Field(description="Also show the reply in the channel.")] = False,
    workspace: WorkspaceName = None,
) -> Reply:
    """Reply in a thread of a channel on the server's allow-list; returns the reply's ts."""
    return await deps.writer.post(
        deps.workspace(workspace), channel, text, thread_ts=thread_ts, broadcast=also_send_to_channel
    )


@tools.tool(access=POST, idempotent=True, open_world=True)
async def slack_add_reaction(
    deps: Deps,
    channel: Channel,
    timestamp: Ts,
    reaction: Annotated[str, Field(description="Emoji name without colons, e.g. thumbsup.")],
    workspace: WorkspaceName = None,
) -> Reply:
    """Add an emoji reaction to a message in a channel on the server's allow-list."""
    return await deps.writer.react(deps.workspace(workspace), channel, timestamp, reaction)


@tools.tool(access=POST, open_world=True)
async def slack_schedule_message(
    deps: Deps,
    channel: Channel,
    text: Text,
    post_at: Annotated[
        str,
        Field(description="When to post: an ISO date-time (UTC unless an offset is given) or a Unix time."),
    ],
    thread_ts: Annotated[str | None, Field(description="Post as a reply in this thread.")] = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """Schedule a message for a channel on the server's allow-list; returns the scheduled message ID."""
    return await deps.writer.schedule(deps.workspace(workspace), channel, text, post_at, thread_ts=thread_ts)


@tools.tool(access=POST, destructive=True, idempotent=True, open_world=True)
async def slack_delete_scheduled_message(
    deps: Deps,
    channel: Channel,
    scheduled_message_id: Annotated[str, Field(description="ID from slack_list_scheduled_messages.")],
    workspace: WorkspaceName = None,
) -> Reply:
    """Delete a scheduled message before it is sent (channel on the server's allow-list)."""
    return await deps.writer.unschedule(deps.workspace(workspace), channel, scheduled_message_id)


@tools.tool(access=POST, open_world=True, name=UPLOAD)
async def slack_upload_file(
    deps: Deps,
    channel: Channel,
    path: Annotated[str, Field(description="Path of the file, inside the server's upload directories.")],
    roots: AllowedRoots,
    title: Annotated[str | None, Field(description="Title shown in Slack; the file name when empty.")] = None,
    comment: Annotated[str | None, Field(description="Message posted with the file.")] = None,
    thread_ts: Annotated[str | None, Field(description="Post the file as a reply in this thread.")] = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """Upload a file from the server's upload directories to a channel on the allow-list."""
    return await deps.writer.upload(
        deps.workspace(workspace), roots, channel, path, title=title, comment=comment, thread_ts=thread_ts
    )
