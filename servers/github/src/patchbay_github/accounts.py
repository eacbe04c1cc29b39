"""Several GitHub accounts in one server, and the rule that picks one for each call.

An account is a name and the environment variable that holds its token (the token itself never goes on a
command line, where `ps` shows it). Routes map owners (users or organizations, `*` globs allowed) to
accounts. For a call, an explicit `account` argument wins; then the first route matching the owner; then
the only account, or the default one. When none of these decides, the call fails with the list of
accounts so the model can pass `account`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from patchbay_common.errors import UserError
from patchbay_github.api import Api, ApiOptions

__all__ = ["Accounts", "parse_accounts"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Accounts:
    """The configured accounts (name -> Api), owner routes, and the default account."""

    apis: Mapping[str, Api]
    routes: Sequence[tuple[str, str]]
    default: str | None

    @property
    def names(self) -> list[str]:
        """Account names in the order they were declared."""
        return list(self.apis)

    def pick(self, owner: str | None = None, account: str | None = None) -> Api:
        """The account for a call on `owner` (None for calls without an owner, such as search)."""
        if account:
            if account not in self.apis:
                raise UserError(
                    f"There is no account named {account!r}.",
                    hint=f"Pass one of: {', '.join(self.names)}.",
                )
            return self.apis[account]
        if owner:
            for pattern, name in self.routes:
                if fnmatch.fnmatchcase(owner.lower(), pattern.lower()):
                    return self.apis[name]
        if len(self.apis) == 1:
            return next(iter(self.apis.values()))
        if self.default:
            return self.apis[self.default]
        what = f"owner {owner!r} matches no account route" if owner else "this call names no owner"
        raise UserError(
            f"Several GitHub accounts are configured and {what}.",
            hint=f"Pass account= one of: {', '.join(self.names)}.",
        )


def parse_accounts(
    specs: Sequence[str],
    routes: Sequence[str],
    default: str | None,
    token_env: str,
    options: ApiOptions,
    environ: Mapping[str, str] | None = None,
) -> Accounts:
    """Accounts from `NAME=ENV_VAR` specs and `OWNER=NAME` routes; else one 'default' from `token_env`.

    Raises:
        ValueError: a malformed spec or route, a duplicate name, or a route or default naming no account.
    """
    env = os.environ if environ is None else environ
    apis: dict[str, Api] = {}
    for spec in specs:
        name, sep, var = spec.partition("=")
        name, var = name.strip(), var.strip()
        if not sep or not _NAME.match(name) or not _ENV.match(var):
            raise ValueError(f"--account {spec!r}: expected NAME=ENV_VAR, e.g. work=GITHUB_TOKEN_WORK")
        if name in apis:
            raise ValueError(f"--account: {name!r} is declared twice")
        apis[name] = Api(name, env.get(var) or None, var, options)
    if not apis:
        fallback = "GITHUB_TOKEN"
        token = env.get(token_env) or (env.get(fallback) if token_env != fallback else None)
        source = token_env if env.get(token_env) or not env.get(fallback) else fallback
        apis["default"] = Api("default", token or None, source, options)
    parsed_routes = []
    for route in routes:
        pattern, sep, name = route.partition("=")
        pattern, name = pattern.strip(), name.strip()
        if not sep or not pattern or name not in apis:
            raise ValueError(f"--route {route!r}: expected OWNER=ACCOUNT with an account from --account")
        parsed_routes.append((pattern, name))
    if default is not None and default not in apis:
        raise ValueError(f"--default-account {default!r}: not one of {', '.join(apis)}")
    return Accounts(apis, parsed_routes, default)
