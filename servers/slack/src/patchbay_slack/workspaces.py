"""The workspaces one server talks to, each addressed by name and reached with a token from the environment.

With no `--workspace`, there is one workspace, `default`, whose token comes from SLACK_BOT_TOKEN (or
SLACK_USER_TOKEN when only that is set); SLACK_USER_TOKEN, when set beside a bot token, is used for
message search, which Slack allows only to user tokens. `--workspace NAME=VAR` (repeatable) names
workspaces whose token is in the variable VAR; `NAME=VAR:USERVAR` adds a user token for search, and a
trailing `@T0123ABC` (`NAME=VAR@T0123ABC`) names the workspace's team ID, which an Enterprise Grid
org-wide token needs on the methods that list or search (sent as `team_id`, see api.TEAM_ID_METHODS).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchbay_common.errors import UserError
from patchbay_slack.api import SlackApi
from patchbay_slack.directory import Directory

if TYPE_CHECKING:
    from patchbay_common.egress import ProxyConfig

__all__ = ["BOT_TOKEN_VAR", "USER_TOKEN_VAR", "Workspace", "Workspaces"]

BOT_TOKEN_VAR = "SLACK_BOT_TOKEN"  # noqa: S105 - a variable name, not a token
USER_TOKEN_VAR = "SLACK_USER_TOKEN"  # noqa: S105
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEAM = re.compile(r"^T[A-Z0-9]{2,}$")


@dataclass
class Workspace:
    """One workspace: its API client, an optional user-token client for search, and its name cache."""

    name: str
    api: SlackApi
    directory: Directory
    search_api: SlackApi


class Workspaces:
    """The configured workspaces, by name; the first is the default."""

    def __init__(self, items: list[Workspace]) -> None:
        self.items = {ws.name: ws for ws in items}
        self.default = items[0].name

    @classmethod
    def from_config(
        cls,
        specs: list[str],
        *,
        environ: Mapping[str, str] | None = None,
        base_url: str,
        timeout: float,
        max_wait: float,
        cache_ttl: float,
        proxies: ProxyConfig | None = None,
    ) -> Workspaces:
        """Build from `--workspace` values (or the default workspace); raise `ValueError` on a bad spec."""
        env = os.environ if environ is None else environ
        pairs: list[tuple[str, str, str | None, str | None]] = []
        if not specs:
            bot, user = env.get(BOT_TOKEN_VAR, "").strip(), env.get(USER_TOKEN_VAR, "").strip()
            main_var = BOT_TOKEN_VAR if bot or not user else USER_TOKEN_VAR
            pairs.append(("default", main_var, USER_TOKEN_VAR if bot and user else None, None))
        for spec in specs:
            name, sep, variables = spec.partition("=")
            variables, at, team = variables.partition("@")
            team = team.strip()
            if at and not _TEAM.match(team):
                raise ValueError(
                    f"--workspace: {team!r} is not a Slack team ID (T followed by letters and digits, as "
                    f"auth.test or the workspace URL shows), in {spec!r}"
                )
            main_var, _, user_var = variables.partition(":")
            name, main_var, user_var = name.strip(), main_var.strip(), user_var.strip()
            if not sep or not _NAME.match(name) or not _VAR.match(main_var):
                raise ValueError(
                    "--workspace: expected NAME=ENV_VAR, NAME=ENV_VAR:USER_ENV_VAR, optionally followed by "
                    f"@TEAM_ID, got {spec!r}"
                )
            if user_var and not _VAR.match(user_var):
                raise ValueError(f"--workspace: {user_var!r} is not an environment variable name")
            if any(name == p[0] for p in pairs):
                raise ValueError(f"--workspace: {name!r} is given twice")
            pairs.append((name, main_var, user_var or None, team or None))
        items = []
        for name, main_var, search_var, team_id in pairs:

            def api(var: str, ws: str = name, team_id: str | None = team_id) -> SlackApi:
                token = env.get(var, "").strip() or None
                return SlackApi(
                    ws,
                    token,
                    var,
                    base_url=base_url,
                    timeout=timeout,
                    max_wait=max_wait,
                    proxies=proxies,
                    team_id=team_id,
                )

            main = api(main_var)
            items.append(
                Workspace(name, main, Directory(main, ttl=cache_ttl), api(search_var) if search_var else main)
            )
        return cls(items)

    def get(self, name: str | None) -> Workspace:
        """The workspace called `name` (the default when None or empty)."""
        if not name:
            return self.items[self.default]
        found = self.items.get(name.strip())
        if found is None:
            raise UserError(
                f"No workspace named {name!r} on this server.",
                hint=f"Configured workspaces: {', '.join(self.items)}.",
            )
        return found

    def names(self) -> list[str]:
        """The workspace names, default first."""
        return list(self.items)
