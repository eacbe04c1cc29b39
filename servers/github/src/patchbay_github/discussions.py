"""The discussions toolset: repository discussions, their comments and categories (GraphQL, read-only).

Modelled on github-mcp-server's discussions toolset (list_discussions, get_discussion,
get_discussion_comments, list_discussion_categories); the GraphQL work is in gql.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github import gql
from patchbay_github.deps import Account, Deps, Owner, PageToken, Repo

tools = Toolset("discussions", "GitHub Discussions: list, read, comments and categories.")

DiscussionNumber = Annotated[int, Field(ge=1, description="Discussion number.")]
PerPage = Annotated[int, Field(ge=1, le=100, description="Items per page (GitHub allows at most 100).")]


@tools.tool(untrusted="github discussions", open_world=True)
async def list_discussions(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    category_id: Annotated[
        str | None, Field(description="Only this category (an ID from list_discussion_categories).")
    ] = None,
    order_by: Annotated[Literal["created", "updated"] | None, Field(description="Sort field.")] = None,
    direction: Annotated[Literal["asc", "desc"], Field(description="Sort direction.")] = "desc",
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a repository's discussions (number, title, category, author, state) without bodies."""
    data = await gql.list_discussions(
        deps.ops,
        deps.pick(owner, account),
        owner,
        repo,
        category_id=category_id,
        order_by=order_by,
        direction=direction,
        page_token=page_token,
        per_page=per_page,
    )
    return deps.answer(data, f"github {owner}/{repo} discussions")


@tools.tool(untrusted="github discussion", open_world=True)
async def get_discussion(
    deps: Deps, owner: Owner, repo: Repo, discussion_number: DiscussionNumber, account: Account = None
) -> Reply:
    """Return one discussion with its body."""
    data = await gql.get_discussion(deps.ops, deps.pick(owner, account), owner, repo, discussion_number)
    return deps.answer(data, f"github {owner}/{repo} discussion")


@tools.tool(untrusted="github discussion comments", open_world=True)
async def get_discussion_comments(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    discussion_number: DiscussionNumber,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a discussion's comments (author, body, whether it is the answer, reply count)."""
    data = await gql.get_discussion_comments(
        deps.ops,
        deps.pick(owner, account),
        owner,
        repo,
        discussion_number,
        page_token=page_token,
        per_page=per_page,
    )
    return deps.answer(data, f"github {owner}/{repo} discussion comments")


@tools.tool(untrusted="github discussion categories", open_world=True)
async def list_discussion_categories(deps: Deps, owner: Owner, repo: Repo, account: Account = None) -> Reply:
    """List a repository's discussion categories with their IDs (for list_discussions' category_id)."""
    data = await gql.list_discussion_categories(deps.pick(owner, account), owner, repo)
    return deps.answer(data, f"github {owner}/{repo} discussion categories")
