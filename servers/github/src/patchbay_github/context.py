"""The context toolset: who the token is, and how much of the API rate limit is left."""

from __future__ import annotations

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps

tools = Toolset("context", "The authenticated user and the API rate limit.")


@tools.tool(untrusted="github user", open_world=True)
async def get_me(deps: Deps, account: Account = None) -> Reply:
    """Return the authenticated user of an account (login, name, type) and the account names."""
    data = await deps.ops.get_me(deps.pick(None, account))
    return deps.answer({**data, "accounts": deps.accounts.names})


@tools.tool(open_world=True)
async def get_rate_limit(deps: Deps, account: Account = None) -> Reply:
    """Return the remaining API requests and reset times (core, search, graphql) of an account."""
    return deps.answer(await deps.ops.get_rate_limit(deps.pick(None, account)))
