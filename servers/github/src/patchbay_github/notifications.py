"""The notifications toolset: the authenticated user's notifications."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, PageToken, PerPage

tools = Toolset("notifications", "The authenticated user's notifications.")


@tools.tool(untrusted="github notifications", open_world=True)
async def list_notifications(
    deps: Deps,
    include_read: Annotated[bool, Field(description="Include notifications already read.")] = False,
    participating: Annotated[bool, Field(description="Only where the user participates.")] = False,
    since: Annotated[str | None, Field(description="Only updated after this ISO 8601 time.")] = None,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List the user's notifications: repository, subject, reason, unread."""
    start = deps.start(page_token, per_page, f"list_notifications {include_read} {participating} {since}")
    api = deps.pick(None, account)
    data = await deps.ops.list_notifications(
        api, include_read, participating, since, start.token, start.per_page
    )
    return deps.page(data, "notifications", start)


@tools.tool(access="write", idempotent=True, open_world=True)
async def mark_notifications_read(
    deps: Deps,
    last_read_at: Annotated[str | None, Field(description="Mark those up to this ISO 8601 time.")] = None,
    account: Account = None,
) -> Reply:
    """Mark the user's notifications as read."""
    return deps.answer(await deps.ops.mark_notifications_read(deps.pick(None, account), last_read_at))
