"""The issues toolset: issues and their comments, issue search; opening, changing and commenting."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Number, Order, Owner, PageToken, PerPage, Query, Repo

tools = Toolset("issues", "Issues and their comments; issue search.")


@tools.tool(untrusted="github issue", open_world=True)
async def get_issue(
    deps: Deps, owner: Owner, repo: Repo, issue_number: Number, account: Account = None
) -> Reply:
    """Return one issue: title, state, author, labels, assignees, dates and body."""
    data = await deps.ops.get_issue(deps.pick(owner, account), owner, repo, issue_number)
    return deps.answer(data, f"github {owner}/{repo}#{issue_number}")


@tools.tool(untrusted="github issues", open_world=True)
async def list_issues(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    state: Literal["open", "closed", "all"] = "open",
    labels: Annotated[list[str] | None, Field(description="Only issues with all these labels.")] = None,
    sort: Literal["created", "updated", "comments"] = "created",
    direction: Order = "desc",
    since: Annotated[
        str | None, Field(description="Only issues updated at or after this ISO 8601 time.")
    ] = None,
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """List issues (and pull requests, marked) with the first 300 characters of each body."""
    listing = f"list_issues {owner}/{repo} {state} {labels} {sort} {direction} {since}"
    start = deps.start(page_token, per_page, listing)
    api = deps.pick(owner, account)
    data = await deps.ops.list_issues(
        api, owner, repo, state, labels, sort, direction, since, start.token, start.per_page
    )
    return deps.page(data, "issues", start, f"github {owner}/{repo} issues")


@tools.tool(untrusted="github comments", open_world=True)
async def get_issue_comments(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    issue_number: Number,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List the comments of an issue or pull request, oldest first."""
    start = deps.start(page_token, per_page, f"get_issue_comments {owner}/{repo}#{issue_number}")
    api = deps.pick(owner, account)
    data = await deps.ops.list_issue_comments(api, owner, repo, issue_number, start.token, start.per_page)
    return deps.page(data, "comments", start, f"github {owner}/{repo}#{issue_number} comments")


@tools.tool(untrusted="github issue search", open_world=True)
async def search_issues(
    deps: Deps,
    query: Query,
    sort: Literal["comments", "reactions", "interactions", "created", "updated"] | None = None,
    order: Order = "desc",
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """Search issues and pull requests across repositories; return matches without bodies."""
    start = deps.start(page_token, per_page, f"search_issues {query} {sort} {order}")
    api = deps.pick(None, account)
    data = await deps.ops.search_issues(api, query, sort, order, start.token, start.per_page)
    return deps.page(data, "issues", start)


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def create_issue(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    title: Annotated[str, Field(min_length=1, description="Issue title.")],
    body: Annotated[str | None, Field(description="Issue text (Markdown).")] = None,
    assignees: Annotated[list[str] | None, Field(description="Logins to assign.")] = None,
    labels: Annotated[list[str] | None, Field(description="Label names.")] = None,
    milestone: Annotated[int | None, Field(description="Milestone number.")] = None,
    account: Account = None,
) -> Reply:
    """Open an issue; return its number and URL."""
    api = deps.pick(owner, account)
    return deps.answer(
        await deps.ops.create_issue(api, owner, repo, title, body, assignees, labels, milestone)
    )


@tools.tool(access="write", idempotent=True, untrusted="github issue", open_world=True)
async def update_issue(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    issue_number: Number,
    title: Annotated[str | None, Field(description="New title.")] = None,
    body: Annotated[str | None, Field(description="New text (replaces the old).")] = None,
    state: Literal["open", "closed"] | None = None,
    state_reason: Literal["completed", "not_planned", "reopened"] | None = None,
    labels: Annotated[list[str] | None, Field(description="Replace the labels.")] = None,
    assignees: Annotated[list[str] | None, Field(description="Replace the assignees.")] = None,
    milestone: Annotated[int | None, Field(description="Milestone number.")] = None,
    account: Account = None,
) -> Reply:
    """Change an issue's title, text, state, labels, assignees or milestone; return the issue."""
    changes = {
        "title": title,
        "body": body,
        "state": state,
        "state_reason": state_reason,
        "labels": labels,
        "assignees": assignees,
        "milestone": milestone,
    }
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.update_issue(api, owner, repo, issue_number, changes))


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def add_issue_comment(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    issue_number: Number,
    body: Annotated[str, Field(min_length=1, description="Comment text (Markdown).")],
    account: Account = None,
) -> Reply:
    """Comment on an issue or pull request; return the comment's id and URL."""
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.add_issue_comment(api, owner, repo, issue_number, body))
