"""The code_security toolset: code scanning and Dependabot alerts (read)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Owner, PageToken, PerPage, Repo, Severity

tools = Toolset("code_security", "Code scanning and Dependabot alerts (read).")

AlertNumber = Annotated[int, Field(ge=1)]


@tools.tool(untrusted="github code scanning", open_world=True)
async def list_code_scanning_alerts(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    state: Literal["open", "closed", "dismissed", "fixed"] | None = "open",
    severity: Severity = None,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List code scanning alerts: rule, severity, tool, file and line."""
    start = deps.start(page_token, per_page, f"list_code_scanning_alerts {owner}/{repo} {state} {severity}")
    api = deps.pick(owner, account)
    data = await deps.ops.list_code_scanning_alerts(
        api, owner, repo, state, severity, start.token, start.per_page
    )
    return deps.page(data, "alerts", start, f"github {owner}/{repo} code scanning")


@tools.tool(untrusted="github code scanning", open_world=True)
async def get_code_scanning_alert(
    deps: Deps, owner: Owner, repo: Repo, alert_number: AlertNumber, account: Account = None
) -> Reply:
    """Return one code scanning alert."""
    data = await deps.ops.get_code_scanning_alert(deps.pick(owner, account), owner, repo, alert_number)
    return deps.answer(data, f"github {owner}/{repo} code scanning")


@tools.tool(untrusted="github dependabot", open_world=True)
async def list_dependabot_alerts(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    state: Literal["open", "dismissed", "fixed", "auto_dismissed"] | None = "open",
    severity: Severity = None,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List Dependabot alerts: package, advisory, severity, vulnerable and patched versions."""
    start = deps.start(page_token, per_page, f"list_dependabot_alerts {owner}/{repo} {state} {severity}")
    api = deps.pick(owner, account)
    data = await deps.ops.list_dependabot_alerts(
        api, owner, repo, state, severity, start.token, start.per_page
    )
    return deps.page(data, "alerts", start, f"github {owner}/{repo} dependabot")


@tools.tool(untrusted="github dependabot", open_world=True)
async def get_dependabot_alert(
    deps: Deps, owner: Owner, repo: Repo, alert_number: AlertNumber, account: Account = None
) -> Reply:
    """Return one Dependabot alert."""
    data = await deps.ops.get_dependabot_alert(deps.pick(owner, account), owner, repo, alert_number)
    return deps.answer(data, f"github {owner}/{repo} dependabot")
