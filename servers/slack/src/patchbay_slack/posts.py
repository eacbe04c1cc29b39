"""What the write tools do, without MCP: check the allow-list, then post, react, schedule or upload.

Every write names its channel the same way reads do (`#name` or ID); the channel is resolved first and
checked against the operator's `PostPolicy`, so a refused write sends nothing to Slack. Posts go out with
link and media unfurling off unless the operator turned it on: an unfurl fetches a URL the model chose.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from patchbay_common.errors import UserError
from patchbay_common.limits import human_size
from patchbay_common.results import Reply
from patchbay_common.roots import Roots
from patchbay_slack.directory import Channel
from patchbay_slack.policy import PostRules
from patchbay_slack.timewindow import format_ts, parse_time
from patchbay_slack.workspaces import Workspace

__all__ = ["Poster"]

MAX_TEXT = 40_000
_PLAIN = re.compile(r"^[\w.:-]{1,100}$")
_CHANNEL_NAME = re.compile(r"^[\w.-]{1,80}$")


def _plain(value: object) -> str:
    """An ID or ts Slack answered with, as-is when it is shaped like one, else '?' (never its text)."""
    text = str(value or "")
    return text if _PLAIN.match(text) else "?"


def _label(channel: Channel) -> str:
    """`#name` when the name is shaped like a Slack channel name, else the channel's ID.

    Write tools answer in our own words, outside any untrusted-data frame, so what Slack calls the
    channel appears only when it cannot carry more than a name (no spaces, brackets or invisible text).
    """
    if channel.is_dm:
        return f"the direct message with {_plain(channel.user)}" if channel.user else _plain(channel.id)
    return f"#{channel.name}" if _CHANNEL_NAME.match(channel.name) else _plain(channel.id)


@dataclass(frozen=True)
class Poster:
    """The write operations, bound to the operator's allow-lists (per workspace) and unfurl choice."""

    policy: PostRules
    unfurl: bool = False
    max_upload_bytes: int = 10 * 1024 * 1024

    async def _target(self, ws: Workspace, channel: str) -> Channel:
        found = await ws.directory.channel(channel)
        self.policy.check(ws.name, found.id, found.name, dm=found.is_dm, dm_user=found.user)
        return found

    @staticmethod
    def _text(text: str) -> str:
        if not text.strip():
            raise UserError("The message text is empty.", hint="Give the text to send.")
        if len(text) > MAX_TEXT:
            raise UserError(
                f"The message is {len(text)} characters; Slack takes at most {MAX_TEXT}.",
                hint="Shorten it or split it into several messages.",
            )
        return text

    async def post(
        self, ws: Workspace, channel: str, text: str, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> Reply:
        """Post `text` to a channel, or as a reply in a thread."""
        found = await self._target(ws, channel)
        data = await ws.api.call(
            "chat.postMessage",
            write=True,
            channel=found.id,
            text=self._text(text),
            thread_ts=thread_ts.strip() if thread_ts else None,
            reply_broadcast=True if thread_ts and broadcast else None,
            unfurl_links=self.unfurl,
            unfurl_media=self.unfurl,
        )
        ts = _plain(data.get("ts"))
        where = f"thread {thread_ts} in {_label(found)}" if thread_ts else _label(found)
        return Reply(
            f"Posted to {where} ({_plain(found.id)}) as ts={ts}.",
            structured={"channel": _plain(found.id), "ts": ts, "thread_ts": thread_ts},
        )

    async def react(self, ws: Workspace, channel: str, timestamp: str, reaction: str) -> Reply:
        """Add an emoji reaction to a message."""
        found = await self._target(ws, channel)
        name = reaction.strip().strip(":")
        if not name:
            raise UserError("The reaction is empty.", hint="Give an emoji name such as thumbsup.")
        await ws.api.call(
            "reactions.add", write=True, channel=found.id, timestamp=timestamp.strip(), name=name
        )
        return Reply(
            f"Added :{name}: to message {timestamp} in {_label(found)}.",
            structured={"channel": _plain(found.id), "name": name},
        )

    async def schedule(
        self, ws: Workspace, channel: str, text: str, post_at: str, *, thread_ts: str | None = None
    ) -> Reply:
        """Schedule `text` to be posted at `post_at`."""
        found = await self._target(ws, channel)
        when = int(parse_time(post_at, name="post_at"))
        data = await ws.api.call(
            "chat.scheduleMessage",
            write=True,
            channel=found.id,
            text=self._text(text),
            post_at=when,
            thread_ts=thread_ts.strip() if thread_ts else None,
            unfurl_links=self.unfurl,
            unfurl_media=self.unfurl,
        )
        scheduled = _plain(data.get("scheduled_message_id"))
        return Reply(
            f"Scheduled message {scheduled} for {_label(found)} at {format_ts(when)} UTC.",
            structured={"channel": _plain(found.id), "scheduled_message_id": scheduled, "post_at": when},
        )

    async def unschedule(self, ws: Workspace, channel: str, scheduled_message_id: str) -> Reply:
        """Delete a scheduled message before it is sent."""
        found = await self._target(ws, channel)
        await ws.api.call(
            "chat.deleteScheduledMessage",
            write=True,
            channel=found.id,
            scheduled_message_id=scheduled_message_id.strip(),
        )
        return Reply(
            f"Deleted scheduled message {scheduled_message_id} of {_label(found)}.",
            structured={"channel": _plain(found.id), "scheduled_message_id": scheduled_message_id},
        )

    async def upload(
        self,
        ws: Workspace,
        roots: Roots,
        channel: str,
        path: str,
        *,
        title: str | None,
        comment: str | None,
        thread_ts: str | None,
    ) -> Reply:
        """Upload a file from the allowed directories to a channel."""
        found = await self._target(ws, channel)
        content = roots.read_bytes(path, self.max_upload_bytes + 1)
        if len(content) > self.max_upload_bytes:
            raise UserError(
                f"{path} is larger than the upload limit of {human_size(self.max_upload_bytes)}.",
                hint="Only the operator can raise --max-upload-bytes.",
            )
        filename = os.path.basename(path.rstrip("/")) or "file"
        data = await ws.api.upload(
            channel=found.id,
            content=content,
            filename=filename,
            title=title or filename,
            initial_comment=comment or None,
            thread_ts=thread_ts.strip() if thread_ts else None,
        )
        file_info = data.get("file") or (data.get("files") or [{}])[0]
        file_id = _plain(file_info.get("id"))
        return Reply(
            f"Uploaded {filename} ({human_size(len(content))}) to {_label(found)} as file {file_id}.",
            structured={
                "channel": _plain(found.id),
                "file_id": file_id,
                "bytes": len(content),
                "filename": filename,
            },
        )
