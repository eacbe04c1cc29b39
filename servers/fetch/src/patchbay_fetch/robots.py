"""robots.txt for model-initiated fetches: fetched through the same guarded client, cached per site.

Rules follow RFC 9309: a 2xx body is parsed (Protego, as Scrapy and the official server use); 401/403 mean
the site does not want automated access; other 4xx mean there are no rules; 5xx, a failed connection or a
body over the cap mean the site is unreachable, so nothing is allowed (the official server reads a 5xx
error page as if it were robots.txt, and has no timeout for this request).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from patchbay_common.errors import AccessDenied, UserError
from patchbay_common.logs import get_logger

if TYPE_CHECKING:
    from patchbay_fetch.web import Fetcher

__all__ = ["RobotsCache", "RobotsDenied"]

log = get_logger("patchbay.fetch.robots")

_MAX_ROBOTS_BYTES = 512 * 1024


class RobotsDenied(AccessDenied):
    """The site's robots.txt does not allow this fetch."""


@dataclass
class _Rules:
    parser: Any | None  # a Protego parser, or None with `allow_all`
    allow_all: bool
    reason: str
    fetched: float
    source: str


class RobotsCache:
    """Decides, per site, whether a user agent may fetch a URL; robots.txt is fetched at most once per TTL."""

    def __init__(self, fetcher: Fetcher, ttl: float) -> None:
        self._fetcher = fetcher
        self._ttl = ttl
        self._sites: dict[str, _Rules] = {}
        self.fetches = 0  # how many robots.txt requests were made (tests and logs)

    async def require_allowed(self, url: httpx2.URL, agent: str) -> None:
        """Raise `RobotsDenied` unless robots.txt lets `agent` fetch `url`."""
        site = f"{url.scheme}://{url.netloc.decode('ascii')}"
        rules = self._sites.get(site)
        if rules is None or time.monotonic() - rules.fetched > self._ttl:
            rules = await self._load(site, agent)
            self._sites[site] = rules
        if rules.allow_all:
            return
        target = str(url.copy_with(fragment=None))
        if rules.parser is not None and rules.parser.can_fetch(target, agent):
            return
        raise RobotsDenied(
            f"The site's robots.txt ({rules.source}) does not allow the user agent {agent!r} to fetch "
            f"{target} ({rules.reason}).",
            hint="The user can fetch it with the server's 'fetch' prompt, which is not an automated fetch; "
            "an operator can start the server with --ignore-robots-txt.",
        )

    async def _load(self, site: str, agent: str) -> _Rules:
        from protego import Protego

        source = f"{site}/robots.txt"
        self.fetches += 1
        now = time.monotonic()
        try:
            response = await self._fetcher.fetch(source, user_agent=agent, check_robots=False)
        except AccessDenied:
            raise
        except UserError as exc:
            log.info("robots.txt unreachable", site=site, error=str(exc))
            return _Rules(None, False, "robots.txt could not be read, so nothing is allowed", now, source)
        status = response.status
        if status in (401, 403):
            return _Rules(None, False, f"robots.txt answered {status}", now, source)
        if 400 <= status < 500:
            return _Rules(None, True, "no robots.txt", now, source)
        if status >= 500 or status >= 300:
            return _Rules(None, False, f"robots.txt answered {status}, so nothing is allowed", now, source)
        text = response.body[:_MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return _Rules(Protego.parse(text), False, "disallowed by its rules", now, source)
