"""What the Slack tools need (`Deps`, built once in server.py), and the argument types they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from patchbay_common.errors import UserError
from patchbay_slack.posts import Poster
from patchbay_slack.workspaces import Workspace, Workspaces

__all__ = ["Channel", "Cursor", "Deps", "Since", "Text", "Ts", "Until", "WorkspaceName"]


@dataclass(frozen=True)
class Deps:
    """The configured workspaces, the character budget of one answer, and the writer when posting is on."""

    workspaces: Workspaces
    max_chars: int
    poster: Poster | None = None

    def workspace(self, name: str | None) -> Workspace:
        """The workspace called `name` (the default when empty)."""
        return self.workspaces.get(name)

    @property
    def writer(self) -> Poster:
        """The allow-listed writer (write tools are registered only when there is one)."""
        if self.poster is None:
            raise UserError(
                "Posting is not enabled on this server.", hint="The operator can pass --allow-post."
            )
        return self.poster


WorkspaceName = Annotated[
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
ThreadTs = Annotated[str, Field(description="Timestamp (ts) of the thread's parent message.")]
Text = Annotated[str, Field(description="Message text (Slack mrkdwn), at most 40,000 characters.")]
