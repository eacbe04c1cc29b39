"""The pull_requests toolset: details, files, status, comments, reviews; opening, reviewing and merging."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Number, Order, Owner, PageToken, PerPage, Repo

tools = Toolset(
    "pull_requests", "Pull requests: details, files, status, comments, reviews; merge, review when writable."
)


class ReviewComment(BaseModel):
    """One line comment of a review."""

    path: str = Field(description="File path.")
    body: str = Field(description="Comment text.")
    line: int | None = Field(None, description="Line in the new file.")
    side: Literal["LEFT", "RIGHT"] | None = Field(None, description="Diff side of the line.")


@tools.tool(untrusted="github pull request", open_world=True)
async def get_pull_request(
    deps: Deps, owner: Owner, repo: Repo, pull_number: Number, account: Account = None
) -> Reply:
    """Return one pull request: state, branches, mergeability, size, reviewers and body."""
    data = await deps.ops.get_pull_request(deps.pick(owner, account), owner, repo, pull_number)
    return deps.answer(data, f"github {owner}/{repo} PR {pull_number}")


@tools.tool(untrusted="github pull requests", open_world=True)
async def list_pull_requests(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    state: Literal["open", "closed", "all"] = "open",
    head: Annotated[str | None, Field(description="Only from this head, as user:branch.")] = None,
    base: Annotated[str | None, Field(description="Only into this base branch.")] = None,
    sort: Literal["created", "updated", "popularity", "long-running"] = "created",
    direction: Order = "desc",
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """List pull requests without bodies."""
    listing = f"list_pull_requests {owner}/{repo} {state} {head} {base} {sort} {direction}"
    start = deps.start(page_token, per_page, listing)
    api = deps.pick(owner, account)
    data = await deps.ops.list_pull_requests(
        api, owner, repo, state, head, base, sort, direction, start.token, start.per_page
    )
    return deps.page(data, "pull_requests", start, f"github {owner}/{repo} pull requests")


@tools.tool(untrusted="github pull request files", open_world=True)
async def get_pull_request_files(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    with_patch: Annotated[bool, Field(description="Include each file's patch (cut when long).")] = False,
    page_token: PageToken = None,
    per_page: PerPage = 50,
    account: Account = None,
) -> Reply:
    """List the files a pull request changes, with additions and deletions, and patches if asked."""
    listing = f"get_pull_request_files {owner}/{repo}#{pull_number} {with_patch}"
    start = deps.start(page_token, per_page, listing)
    api = deps.pick(owner, account)
    data = await deps.ops.get_pull_request_files(
        api, owner, repo, pull_number, with_patch, start.token, start.per_page
    )
    return deps.page(data, "files", start, f"github {owner}/{repo} PR {pull_number} files")


@tools.tool(untrusted="github pull request status", open_world=True)
async def get_pull_request_status(
    deps: Deps, owner: Owner, repo: Repo, pull_number: Number, account: Account = None
) -> Reply:
    """Return the combined commit status and check runs of a pull request's head commit."""
    data = await deps.ops.get_pull_request_status(deps.pick(owner, account), owner, repo, pull_number)
    return deps.answer(data, f"github {owner}/{repo} PR {pull_number} status")


@tools.tool(untrusted="github review comments", open_world=True)
async def get_pull_request_comments(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a pull request's review comments (on lines of the diff) with path and line."""
    start = deps.start(page_token, per_page, f"get_pull_request_comments {owner}/{repo}#{pull_number}")
    api = deps.pick(owner, account)
    data = await deps.ops.get_pull_request_comments(
        api, owner, repo, pull_number, start.token, start.per_page
    )
    return deps.page(data, "comments", start, f"github {owner}/{repo} PR {pull_number} review comments")


@tools.tool(untrusted="github reviews", open_world=True)
async def get_pull_request_reviews(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a pull request's reviews: author, state (APPROVED, CHANGES_REQUESTED, ...) and body."""
    start = deps.start(page_token, per_page, f"get_pull_request_reviews {owner}/{repo}#{pull_number}")
    api = deps.pick(owner, account)
    data = await deps.ops.get_pull_request_reviews(api, owner, repo, pull_number, start.token, start.per_page)
    return deps.page(data, "reviews", start, f"github {owner}/{repo} PR {pull_number} reviews")


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def create_pull_request(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    title: Annotated[str, Field(min_length=1, description="Title.")],
    head: Annotated[str, Field(description="Branch with the changes (user:branch across forks).")],
    base: Annotated[str, Field(description="Branch to merge into.")],
    body: Annotated[str | None, Field(description="Description (Markdown).")] = None,
    draft: bool = False,
    maintainer_can_modify: bool = True,
    account: Account = None,
) -> Reply:
    """Open a pull request; return its number and URL."""
    payload = {
        "title": title,
        "head": head,
        "base": base,
        "body": body,
        "draft": draft,
        "maintainer_can_modify": maintainer_can_modify,
    }
    return deps.answer(await deps.ops.create_pull_request(deps.pick(owner, account), owner, repo, payload))


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def create_pull_request_review(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    event: Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"],
    body: Annotated[str | None, Field(description="Review summary.")] = None,
    commit_id: Annotated[str | None, Field(description="Commit reviewed; the head if omitted.")] = None,
    comments: Annotated[list[ReviewComment] | None, Field(description="Line comments.")] = None,
    account: Account = None,
) -> Reply:
    """Submit a review (approve, request changes or comment) with optional line comments."""
    payload = {
        "event": event,
        "body": body,
        "commit_id": commit_id,
        "comments": [c.model_dump(exclude_none=True) for c in comments] if comments else None,
    }
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.create_pull_request_review(api, owner, repo, pull_number, payload))


def ask_before_merging(deps: Deps, owner: str, repo: str, pull_number: int) -> str:
    """The question put to the user before a merge."""
    return f"Merge pull request #{pull_number} into {owner}/{repo}."


@tools.tool(
    access="write", destructive=True, confirm=ask_before_merging, untrusted="github answer", open_world=True
)
async def merge_pull_request(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    merge_method: Literal["merge", "squash", "rebase"] = "merge",
    commit_title: Annotated[str | None, Field(description="Title of the merge commit.")] = None,
    commit_message: Annotated[str | None, Field(description="Message of the merge commit.")] = None,
    sha: Annotated[str | None, Field(description="Merge only if the head is still this SHA.")] = None,
    account: Account = None,
) -> Reply:
    """Merge a pull request; the user is asked to confirm first."""
    payload = {
        "merge_method": merge_method,
        "commit_title": commit_title,
        "commit_message": commit_message,
        "sha": sha,
    }
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.merge_pull_request(api, owner, repo, pull_number, payload))


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def update_pull_request_branch(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    pull_number: Number,
    expected_head_sha: Annotated[
        str | None, Field(description="Update only if the head is this SHA.")
    ] = None,
    account: Account = None,
) -> Reply:
    """Merge the base branch into a pull request's branch (GitHub's update branch)."""
    api = deps.pick(owner, account)
    return deps.answer(
        await deps.ops.update_pull_request_branch(api, owner, repo, pull_number, expected_head_sha)
    )
