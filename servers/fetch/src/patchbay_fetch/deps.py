"""What the fetch tool and prompt need (`Deps`, built once in server.py), and the one way they get a page.

`Deps.rendered` fetches a URL through the guarded client, refuses error statuses, converts the body in a
worker thread within the fetch deadline (`render.Converter`), and keeps the rendering so that `start_index`
paging reads one fixed text even if the site changes the page between calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchbay_common.errors import UserError
from patchbay_common.notify import Progress
from patchbay_fetch.render import Converter, Format, RenderCache, Rendered, render
from patchbay_fetch.sanitize import clean_url
from patchbay_fetch.web import Fetcher

__all__ = ["Deps"]


@dataclass(frozen=True)
class Deps:
    """The pooled, guarded client, the rendering cache and converter, and the limits of one answer."""

    fetcher: Fetcher
    renderings: RenderCache
    converter: Converter
    user_agent: str
    prompt_user_agent: str
    check_robots: bool
    allow_pdf: bool
    allow_images: bool
    fetch_timeout: float
    max_chars: int
    allow_sampling: bool = False  # the operator's --allow-sampling: a question may go to the client's model

    async def rendered(
        self, url: str, fmt: Format, selector: str | None, raw: bool, start: int, *, prompt: bool = False
    ) -> Rendered:
        """`url` rendered as `fmt`; a later page (`start` > 0) reuses the rendering its first page came from.

        Tool calls (robots.txt checked unless the operator turned that off, the tool's User-Agent) and the
        user-initiated prompt (`prompt=True`: never checked, the User-Specified agent) keep separate
        renderings.
        """
        key = (("prompt " if prompt else "tool ") + url, fmt, selector or "", raw)
        if start > 0 and (kept := self.renderings.get(key)) is not None:
            return kept  # the same text the earlier pages came from
        agent = self.prompt_user_agent if prompt else self.user_agent
        robots = self.check_robots and not prompt
        # Progress in KiB read of the declared length (none declared: KiB so far); a no-op outside a tool
        # call or when the client sent no progress token. Whole KiB keep the layer's counts readable.
        async with Progress(unit="KiB", message="downloading") as progress:

            def on_bytes(done: int, total: int | None) -> None:
                progress.update(done // 1024, None if total is None else max(1, -(-total // 1024)))

            response = await self.fetcher.fetch(url, user_agent=agent, check_robots=robots, on_bytes=on_bytes)
            if response.status >= 400:
                raise UserError(
                    f"{response.final_url} answered HTTP {response.status}.",
                    hint="Check the URL; if the page exists the site may be refusing automated clients.",
                )
            read = max(progress.done, len(response.body) // 1024)
            progress.update(read, read, message=f"downloaded, converting to {fmt}")
            result = await self.converter.run(
                lambda: render(
                    response,
                    fmt,
                    selector=selector,
                    raw=raw,
                    allow_pdf=self.allow_pdf,
                    allow_images=self.allow_images,
                ),
                seconds=self.fetch_timeout,
                what=f"{clean_url(response.final_url, 300)} to {fmt}",
            )
            progress.update(read, message=f"converted to {fmt}")
        self.renderings.put(key, result)
        return result
