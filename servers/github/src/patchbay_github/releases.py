"""The releases toolset: releases and their assets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Owner, PageToken, PerPage, Repo

tools = Toolset("releases", "Releases and their assets.")


@tools.tool(untrusted="github releases", open_world=True)
async def list_releases(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """List releases (tag, name, dates, assets) without notes."""
    start = deps.start(page_token, per_page, f"list_releases {owner}/{repo}")
    data = await deps.ops.list_releases(deps.pick(owner, account), owner, repo, start.token, start.per_page)
    return deps.page(data, "releases", start, f"github {owner}/{repo} releases")


@tools.tool(untrusted="github release", open_world=True)
async def get_release(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    tag: Annotated[str | None, Field(description="Release tag; the latest release if omitted.")] = None,
    account: Account = None,
) -> Reply:
    """Return one release with its notes and assets."""
    data = await deps.ops.get_release(deps.pick(owner, account), owner, repo, tag)
    return deps.answer(data, f"github {owner}/{repo} release")
