"""The users toolset: user search and profiles."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Order, PageToken, PerPage, Query

tools = Toolset("users", "User search and profiles.")


@tools.tool(untrusted="github users", open_world=True)
async def search_users(
    deps: Deps,
    query: Query,
    sort: Literal["followers", "repositories", "joined"] | None = None,
    order: Order = "desc",
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """Search users and organizations; return logins and types."""
    start = deps.start(page_token, per_page, f"search_users {query} {sort} {order}")
    api = deps.pick(None, account)
    data = await deps.ops.search_users(api, query, sort, order, start.token, start.per_page)
    return deps.page(data, "users", start)


@tools.tool(untrusted="github user", open_world=True)
async def get_user(
    deps: Deps,
    username: Annotated[str, Field(description="User or organization login.")],
    account: Account = None,
) -> Reply:
    """Return a user's or organization's public profile."""
    data = await deps.ops.get_user(deps.pick(username, account), username)
    return deps.answer(data, f"github user {username}")
