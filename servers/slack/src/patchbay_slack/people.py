"""The people toolset: the workspace's users, a name search over them, and one user's profile.

Names, titles and profile fields are written by the users themselves, so every tool here is declared
`untrusted=`. The domain work is in reads.py.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_slack import reads
from patchbay_slack.deps import Cursor, Deps, WorkspaceName

tools = Toolset("people", "Find Slack users and read their profiles.")


@tools.tool(open_world=True, untrusted="slack users")
async def slack_get_users(
    deps: Deps,
    limit: Annotated[int, Field(ge=1, le=200, description="Users per page, 1-200.")] = 100,
    cursor: Cursor = None,
    workspace: WorkspaceName = None,
) -> Reply:
    """List the workspace's users.

    Returns one line per user with handle, ID, real name, title, time zone and bot/deactivated
    flags, and a cursor when more remain.
    """
    return await reads.list_users(
        deps.workspace(workspace), limit=limit, cursor=cursor, max_chars=deps.max_chars
    )


@tools.tool(open_world=True, untrusted="slack users")
async def slack_search_users(
    deps: Deps,
    query: Annotated[str, Field(description="Part of a user name, display name or real name.")],
    limit: Annotated[int, Field(ge=1, le=100, description="Most users to return, 1-100.")] = 20,
    workspace: WorkspaceName = None,
) -> Reply:
    """Find users whose user name, display name or real name contains the query (case-insensitive).

    Returns one line per user, as slack_get_users does.
    """
    return await reads.search_users(deps.workspace(workspace), query, limit=limit, max_chars=deps.max_chars)


@tools.tool(open_world=True, untrusted="slack profile")
async def slack_get_user_profile(
    deps: Deps,
    user: Annotated[
        str, Field(description="User ID (U0123ABC) or name (@spengler, spengler, or real name).")
    ],
    workspace: WorkspaceName = None,
) -> Reply:
    """Return a user's profile: names, title, email, phone, status, time zone and custom fields."""
    return await reads.user_profile(deps.workspace(workspace), user, max_chars=deps.max_chars)
