"""Completions for the contents template's and the prompts' arguments: owners, repositories, refs, paths.

Each candidate list costs at most two GitHub requests of one page (100 items) and is kept for a minute per
account, so a client completing as the user types asks GitHub once and then answers from memory. Owners
are the accounts' own logins, their organizations and the literal owners of `--route` rules, each offered
only when the routes would send a call on it to the account that found it (an owner routed elsewhere is
not offered: another account's names are not shown). Repositories, branches, paths, open pull requests and
labels are asked of the account the routes pick for the chosen owner; invalid or missing arguments, and any
failure, give no candidates.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import AccessDenied, NotFound, UserError
from patchbay_common.logs import get_logger
from patchbay_github.accounts import Accounts
from patchbay_github.api import Api, check_owner, check_repo, enc_path, enc_ref

__all__ = ["Names"]

log = get_logger("patchbay.github.completing")

TTL = 60.0
"""Seconds a candidate list is kept."""


@dataclass
class Names:
    """Candidate names for completions, per account, cached for `TTL` seconds."""

    accounts: Accounts
    ttl: float = TTL
    _cache: dict[tuple[str, ...], tuple[float, list[str]]] = field(default_factory=dict)

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[list[str]]]) -> list[str]:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        try:
            found = await load()
        except UserError:
            raise  # the layer answers with no candidates
        except Exception as exc:  # an unexpected answer: no candidates, never an error for completing
            log.warning("completion candidates not loaded", kind=key[0], error=type(exc).__name__)
            raise UserError("no candidates") from None
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), found)
        return found

    def _api(self, owner: str) -> Api:
        return self.accounts.pick(check_owner(owner), None)

    async def owners(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Logins and organizations of every account, each only if routed to that account."""
        found: list[str] = []
        for name, api in self.accounts.apis.items():
            own = await self._cached(("owners", name), lambda api=api: _own(api))  # type: ignore[misc]
            found += [o for o in own if _routes_to(self.accounts, o, api)]
        literal = [p for p, _ in self.accounts.routes if not any(c in p for c in "*?[")]
        return found + [o for o in literal if _valid_owner(o)]

    async def repos(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Repositories of the chosen owner that its account can see (one page each of two listings)."""
        owner = chosen.get("owner", "")
        api = self._api(owner)

        async def load() -> list[str]:
            mine = await _items(api, "/user/repos", sort="pushed")  # private and organization ones too
            theirs = await _items(api, f"/users/{owner}/repos", sort="pushed")
            names = [
                str(r.get("name"))
                for r in [*mine, *theirs]
                if str((r.get("owner") or {}).get("login", "")).lower() == owner.lower()
            ]
            return [n for n in names if _valid_repo(n)]

        return await self._cached(("repos", api.account, owner.lower()), load)

    async def refs(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Branch names of the chosen repository (its first 100)."""
        owner, repo = chosen.get("owner", ""), chosen.get("repo", "")
        api = self._api(owner)
        check_repo(repo)

        async def load() -> list[str]:
            page = await api.page(f"/repos/{owner}/{repo}/branches", None, 100)
            return [str(b.get("name")) for b in page.items if b.get("name")]

        return await self._cached(("refs", api.account, owner.lower(), repo.lower()), load)

    async def paths(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Entries of the directory `value` is in (directories end with '/'), at the chosen ref."""
        owner, repo, ref = chosen.get("owner", ""), chosen.get("repo", ""), chosen.get("ref", "")
        api = self._api(owner)
        check_repo(repo)
        folder = value.rpartition("/")[0]
        url = f"/repos/{owner}/{repo}/contents/{enc_path(folder)}".rstrip("/")
        params = {"ref": enc_ref(ref)} if ref else {}

        async def load() -> list[str]:
            data = await api.get_json(url, **params)
            if not isinstance(data, list):
                return []
            prefix = f"{folder}/" if folder else ""
            return [
                prefix + str(e["name"]) + ("/" if e.get("type") == "dir" else "")
                for e in data
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            ]

        return await self._cached(("paths", api.account, owner.lower(), repo.lower(), ref, folder), load)

    async def pull_numbers(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Numbers of the chosen repository's open pull requests (its newest 100)."""
        owner, repo = chosen.get("owner", ""), chosen.get("repo", "")
        api = self._api(owner)
        check_repo(repo)

        async def load() -> list[str]:
            page = await api.page(f"/repos/{owner}/{repo}/pulls", None, 100, state="open")
            return [str(p["number"]) for p in page.items if isinstance(p.get("number"), int)]

        return await self._cached(("pulls", api.account, owner.lower(), repo.lower()), load)

    async def labels(self, value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """Label names of the chosen repository (its first 100)."""
        owner, repo = chosen.get("owner", ""), chosen.get("repo", "")
        api = self._api(owner)
        check_repo(repo)

        async def load() -> list[str]:
            page = await api.page(f"/repos/{owner}/{repo}/labels", None, 100)
            return [str(label["name"]) for label in page.items if isinstance(label.get("name"), str)]

        return await self._cached(("labels", api.account, owner.lower(), repo.lower()), load)


async def _own(api: Api) -> list[str]:
    """The account's login and its organizations (one page)."""
    if api.token is None:
        return []
    me = await api.get("/user")
    orgs = await _items(api, "/user/orgs")
    found = [str(me.get("login", "")), *(str(o.get("login", "")) for o in orgs)]
    return [o for o in found if _valid_owner(o)]


async def _items(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """The first page (100) of a listing; none when the token may not see it (404/403)."""
    try:
        return (await api.page(path, None, 100, **params)).items
    except (NotFound, AccessDenied):
        return []


def _routes_to(accounts: Accounts, owner: str, api: Api) -> bool:
    try:
        return accounts.pick(owner, None) is api
    except UserError:
        return False


def _valid_owner(owner: str) -> bool:
    try:
        check_owner(owner)
    except UserError:
        return False
    return True


def _valid_repo(repo: str) -> bool:
    try:
        check_repo(repo)
    except UserError:
        return False
    return True
