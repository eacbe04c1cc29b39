"""The repos toolset: repositories, files, branches and commits, code search; file and branch writes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Owner, PageToken, PerPage, Query, Repo

tools = Toolset("repos", "Repositories, files, branches and commits; code search.")


class FileChange(BaseModel):
    """One file of push_files."""

    path: str = Field(description="File path in the repository.")
    content: str = Field(description="New file content (text).")


@tools.tool(untrusted="github repository", open_world=True)
async def get_repository(deps: Deps, owner: Owner, repo: Repo, account: Account = None) -> Reply:
    """Return a repository's description, visibility, default branch, language, topics and counts."""
    data = await deps.ops.get_repository(deps.pick(owner, account), owner, repo)
    return deps.answer(data, f"github {owner}/{repo}")


@tools.tool(untrusted="github file", open_world=True)
async def get_file_contents(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    path: Annotated[str, Field(description="File or directory path; '' for the root.")] = "",
    ref: Annotated[str | None, Field(description="Branch, tag or commit; default branch if omitted.")] = None,
    offset: Annotated[int, Field(ge=0, description="Character offset to read a long file from.")] = 0,
    account: Account = None,
) -> Reply:
    """Return a file's text (a window of it, with next_offset when longer) or a directory's entries."""
    api = deps.pick(owner, account)
    data = await deps.ops.get_file_contents(api, owner, repo, path, ref, offset, deps.room)
    return deps.window(data, offset, f"github {owner}/{repo}/{path}")


@tools.tool(untrusted="github search", open_world=True)
async def search_repositories(
    deps: Deps, query: Query, page_token: PageToken = None, per_page: PerPage = 20, account: Account = None
) -> Reply:
    """Search repositories; return name, description, stars, language and next_page_token."""
    start = deps.start(page_token, per_page, f"search_repositories {query}")
    data = await deps.ops.search_repositories(deps.pick(None, account), query, start.token, start.per_page)
    return deps.page(data, "repositories", start)


@tools.tool(untrusted="github code search", open_world=True)
async def search_code(
    deps: Deps, query: Query, page_token: PageToken = None, per_page: PerPage = 20, account: Account = None
) -> Reply:
    """Search code; return repository, path and blob sha of each match and next_page_token."""
    start = deps.start(page_token, per_page, f"search_code {query}")
    data = await deps.ops.search_code(deps.pick(None, account), query, start.token, start.per_page)
    return deps.page(data, "results", start)


@tools.tool(untrusted="github branches", open_world=True)
async def list_branches(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List branches with their head commit and protection flag."""
    start = deps.start(page_token, per_page, f"list_branches {owner}/{repo}")
    data = await deps.ops.list_branches(deps.pick(owner, account), owner, repo, start.token, start.per_page)
    return deps.page(data, "branches", start, f"github {owner}/{repo} branches")


@tools.tool(untrusted="github commits", open_world=True)
async def list_commits(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    sha: Annotated[str | None, Field(description="Branch or commit to list from.")] = None,
    path: Annotated[str | None, Field(description="Only commits touching this path.")] = None,
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """List commits (sha, first 500 characters of the message, author, date), newest first."""
    start = deps.start(page_token, per_page, f"list_commits {owner}/{repo} {sha} {path}")
    api = deps.pick(owner, account)
    data = await deps.ops.list_commits(api, owner, repo, sha, path, start.token, start.per_page)
    return deps.page(data, "commits", start, f"github {owner}/{repo} commits")


@tools.tool(untrusted="github commit", open_world=True)
async def get_commit(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    sha: Annotated[str, Field(description="Commit SHA, branch or tag.")],
    account: Account = None,
) -> Reply:
    """Return one commit: message, author, stats and changed files with their patches (cut when long)."""
    data = await deps.ops.get_commit(deps.pick(owner, account), owner, repo, sha)
    return deps.answer(data, f"github {owner}/{repo} commit {sha}")


@tools.tool(access="write", destructive=True, untrusted="github answer", open_world=True)
async def create_or_update_file(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    path: Annotated[str, Field(description="File path in the repository.")],
    content: Annotated[str, Field(description="New file content (text).")],
    message: Annotated[str, Field(description="Commit message.")],
    branch: Annotated[str, Field(description="Branch to commit to.")],
    sha: Annotated[
        str | None, Field(description="Blob SHA of the file being replaced; looked up if omitted.")
    ] = None,
    account: Account = None,
) -> Reply:
    """Create or replace one file in one commit; return the new commit and file SHAs."""
    api = deps.pick(owner, account)
    return deps.answer(
        await deps.ops.create_or_update_file(api, owner, repo, path, content, message, branch, sha)
    )


@tools.tool(access="write", destructive=True, untrusted="github answer", open_world=True)
async def push_files(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    branch: Annotated[str, Field(description="Existing branch to commit to (fast-forward only).")],
    files: Annotated[list[FileChange], Field(min_length=1, max_length=100, description="Files to write.")],
    message: Annotated[str, Field(description="Commit message.")],
    account: Account = None,
) -> Reply:
    """Write several files in one commit on a branch (never a force push); return the commit SHA."""
    changes = [f.model_dump() for f in files]
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.push_files(api, owner, repo, branch, changes, message))


@tools.tool(access="write", untrusted="github repository", open_world=True)
async def create_repository(
    deps: Deps,
    name: Annotated[str, Field(description="Repository name.")],
    description: Annotated[str | None, Field(description="Short description.")] = None,
    private: Annotated[bool, Field(description="Create it private.")] = True,
    auto_init: Annotated[bool, Field(description="Start with a README commit.")] = False,
    organization: Annotated[
        str | None, Field(description="Create in this organization, not the user.")
    ] = None,
    account: Account = None,
) -> Reply:
    """Create a repository for the authenticated user or an organization; return it."""
    api = deps.pick(organization, account)
    return deps.answer(
        await deps.ops.create_repository(api, name, description, private, auto_init, organization)
    )


@tools.tool(access="write", untrusted="github repository", open_world=True)
async def fork_repository(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    organization: Annotated[str | None, Field(description="Fork into this organization.")] = None,
    account: Account = None,
) -> Reply:
    """Fork a repository to the authenticated user or an organization; return the fork."""
    api = deps.pick(organization or owner, account)
    return deps.answer(await deps.ops.fork_repository(api, owner, repo, organization))


@tools.tool(access="write", untrusted="github answer", open_world=True)
async def create_branch(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    branch: Annotated[str, Field(description="Name of the new branch.")],
    from_branch: Annotated[
        str | None, Field(description="Branch to start from; the default branch if omitted.")
    ] = None,
    account: Account = None,
) -> Reply:
    """Create a branch from another branch's head; return its name and SHA."""
    api = deps.pick(owner, account)
    return deps.answer(await deps.ops.create_branch(api, owner, repo, branch, from_branch))
