"""The projects toolset: GitHub Projects (v2) of an organization or user, read-only, through GraphQL.

Modelled on github-mcp-server's projects toolset (list_projects, get_project, list_project_items, with
the fields folded into get_project); the GraphQL work is in gql.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github import gql
from patchbay_github.deps import Account, Deps, PageToken

tools = Toolset("projects", "GitHub Projects (v2): projects, their fields and items.")

Login = Annotated[str, Field(description="Organization or user login that owns the project.")]
OwnerType = Annotated[Literal["org", "user"], Field(description="Whether the owner is an org or a user.")]
ProjectNumber = Annotated[int, Field(ge=1, description="Project number (from list_projects or its URL).")]
PerPage = Annotated[int, Field(ge=1, le=100, description="Items per page (GitHub allows at most 100).")]


@tools.tool(untrusted="github projects", open_world=True)
async def list_projects(
    deps: Deps,
    owner: Login,
    owner_type: OwnerType = "org",
    query: Annotated[str | None, Field(description="Only projects whose title matches this.")] = None,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List an organization's or user's projects (number, title, item count, state)."""
    data = await gql.list_projects(
        deps.pick(owner, account), owner, owner_type, query=query, page_token=page_token, per_page=per_page
    )
    return deps.answer(data, f"github {owner} projects")


@tools.tool(untrusted="github project", open_world=True)
async def get_project(
    deps: Deps,
    owner: Login,
    project_number: ProjectNumber,
    owner_type: OwnerType = "org",
    account: Account = None,
) -> Reply:
    """Return one project with its readme and its fields (type, single-select options)."""
    data = await gql.get_project(deps.ops, deps.pick(owner, account), owner, owner_type, project_number)
    return deps.answer(data, f"github {owner} project")


@tools.tool(untrusted="github project items", open_world=True)
async def list_project_items(
    deps: Deps,
    owner: Login,
    project_number: ProjectNumber,
    owner_type: OwnerType = "org",
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a project's items: issue, pull request or draft, with their field values (status...)."""
    data = await gql.list_project_items(
        deps.pick(owner, account),
        owner,
        owner_type,
        project_number,
        page_token=page_token,
        per_page=per_page,
    )
    return deps.answer(data, f"github {owner} project items")
