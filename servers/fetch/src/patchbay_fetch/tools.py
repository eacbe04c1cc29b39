"""The fetch toolset: one read-only, open-world tool, `fetch`, and the text of the `fetch` prompt.

The tool takes `deps` (built once in server.py) as its first argument, so a test can call it without a
server. Its output is declared outside-world content (`untrusted=`): everything the site controls (the
final URL after redirects, the content type, title, description, canonical URL, language and the content
itself) is in `Reply.content`, which the layer frames as data; our own words (status, character window,
where to read on) are in `Reply.note`, after the frame. A page is sized so that the frame, the note and
the page together fit `--max-output-chars`, so the layer never cuts away the `start_index` to read on from.

With a `question`, the converted page goes to the client's model through `patchbay_common.sampling`
(only with `--allow-sampling` and a client that declares sampling): the answer, with the character ranges
it came from, replaces the window, so a long page never enters the caller's context. When that is not
possible the answer is the usual window, and the note says in a few words why the question was not used.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Image
from pydantic import Field

from patchbay_common.errors import UserError
from patchbay_common.limits import truncation_marker
from patchbay_common.notify import current_call
from patchbay_common.results import Reply, reply_result
from patchbay_common.sampling import answer_from
from patchbay_common.toolsets import Toolset
from patchbay_common.untrusted import wrap_untrusted
from patchbay_fetch.deps import Deps
from patchbay_fetch.render import Format, Page, Rendered, page_metadata, window
from patchbay_fetch.sanitize import clean, clean_error, clean_url

__all__ = ["Deps", "fetch", "prompt_text", "tools"]

tools = Toolset("fetch", "Fetch web pages as Markdown, text, HTML, JSON or links.")

WEB_PAGE = "web page"
READ_ON = "call fetch again with a smaller max_length, or with start_index to read on"
_MIN_WINDOW = 200  # below this a budget is too small for any page; the layer's cut is the safety net


@tools.tool(
    untrusted=WEB_PAGE,
    open_world=True,
    title="Fetch a web page",
    structured_output=False,
    continuation=READ_ON,
)
async def fetch(
    deps: Deps,
    url: Annotated[str, Field(min_length=1, description="The http or https URL to fetch.")],
    max_length: Annotated[
        int, Field(ge=1, le=1_000_000, description="Most characters to return in this call.")
    ] = 5000,
    start_index: Annotated[
        int,
        Field(ge=0, description="Character offset to start from, to read on after a truncated result."),
    ] = 0,
    raw: Annotated[bool, Field(description="Return the body as sent, without conversion.")] = False,
    format: Annotated[
        Format,
        Field(
            description="markdown (main content), text (main content, no markup), html (main content, "
            "cleaned), json (pretty-printed), or links (every link on the page with its text)."
        ),
    ] = "markdown",
    selector: Annotated[
        str | None,
        Field(
            description="A CSS selector taking only part of an HTML page (e.g. 'article', '#content'); "
            "for JSON, a path such as $.items[0].name."
        ),
    ] = None,
    question: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=2000,
            description="A question about the page. Where the server and the client allow sampling, the "
            "client's model answers it from the converted page and the answer, with the character ranges "
            "it came from, replaces the page text; otherwise the page text is returned as without it.",
        ),
    ] = None,
) -> Reply | Image:
    """Fetch a URL and return its content as Markdown, text, HTML, JSON or a list of links.

    The page's final URL, content type, title, description, canonical URL and language come first, framed
    with the requested window of the content as outside data; after the frame, the HTTP status, the
    character window and, for a longer content, the start_index to read on from. With a question, and
    sampling allowed by the server and declared by the client, the client's model's answer about the
    converted page (with the character ranges it came from) instead of the window.
    """
    try:
        result = await deps.rendered(url, format, selector, raw, start_index)
    except UserError as exc:  # errors quote final URLs, redirect targets and headers the site chose
        raise clean_error(exc) from None
    if result.image is not None:
        data, kind = result.image
        return Image(data=data, format=kind)
    if question is None:
        return page_reply(result, url, start_index, max_length, deps.max_chars)
    source = clean_url(result.meta.get("url", url), max(100, min(500, deps.max_chars // 10)))
    answered = await answer_from(result.text, question, source=source)
    if answered is not None:
        return answered
    why = f"Question not used: {_why_not_sampled(deps)}."
    return page_reply(result, url, start_index, max_length, deps.max_chars, also=why)


def _why_not_sampled(deps: Deps) -> str:
    """A few words on why `answer_from` gave no answer (it returns None without a reason)."""
    if not deps.allow_sampling:
        return "the server was not started with --allow-sampling"
    call = current_call.get()
    capabilities = getattr(call, "client_capabilities", None)
    if capabilities is None or capabilities.sampling is None:
        return "the client does not declare sampling"
    return "the client's model could not be asked (it refused, or this protocol era has no way to ask)"


def page_reply(
    result: Rendered, url: str, start: int, max_length: int, budget: int, *, also: str = ""
) -> Reply:
    """The window of `result` from `start` as a `Reply` whose framed text and note fit `budget` together.

    `also` is one more line of our own for the note (why a question was not used).

    The window is shrunk until the answer as the layer will print it (frame, sanitized content, note) fits,
    so the continuation in the note is always the one the model sees.
    """
    source = clean_url(result.meta.get("url", url), max(100, min(500, budget // 10)))
    about = _about(result.meta, url, budget // 4)
    limit = max(1, min(max_length, budget))
    while True:
        page = window(result.text, start, limit)
        reply = Reply(f"{about}\n\n{page.text}", note=_note(result.meta, page, also), source=source)
        over = _printed_size(reply) - budget
        if over <= 0 or limit <= _MIN_WINDOW:
            return reply
        limit = max(_MIN_WINDOW, min(limit, page.end - page.start) - over)


def _printed_size(reply: Reply) -> int:
    """Characters of the text the layer makes of `reply` (the frame's random id has a fixed length)."""
    return sum(len(block.text) for block in reply_result(reply, WEB_PAGE).content if hasattr(block, "text"))


def _about(meta: dict[str, str], url: str, limit: int) -> str:
    """The lines about the page that the site controls: its address after redirects, then its metadata."""
    lines = [f"URL: {clean_url(meta.get('url', url), 500)}"]
    if "redirected_from" in meta:
        lines[0] += f" (redirected from {clean_url(meta['redirected_from'], 500)})"
    metadata = page_metadata(meta)
    if metadata:
        lines.append(metadata)
    about = "\n".join(lines)
    return about if len(about) <= limit else about[: max(0, limit - 1)] + "\u2026"


def _note(meta: dict[str, str], page: Page, also: str = "") -> str:
    """Our own line after the frame: status, the window, `also`, and where to read on when more remains."""
    window_ = f"characters {page.start}-{page.end} of {page.total}"
    line = f"Status: {clean(meta.get('status', ''), 10)}. Showing {window_}."
    if also:
        line += f" {also}"
    if page.next_index is None:
        return line
    return f"{line}\n" + truncation_marker(window_, f"call fetch again with start_index={page.next_index}")


async def prompt_text(deps: Deps, url: str) -> str:
    """The `fetch` prompt's message: the page as Markdown, fetched as the user (robots.txt not checked).

    The page is cut so that the whole message fits the budget: the layer's own cut would not know to keep
    the frame's closing line after our "Contents of" line.
    """
    try:
        result = await deps.rendered(url, "markdown", None, False, 0, prompt=True)
    except UserError as exc:
        return f"Failed to fetch {clean_url(url)}: {clean_error(exc)}"
    budget = deps.max_chars
    head = f"Contents of {clean_url(url, max(100, budget // 10))}:\n"
    source = clean_url(result.meta.get("url", url), max(100, min(500, budget // 10)))
    about = _about(result.meta, url, budget // 4)
    limit = min(len(result.text), budget)
    while True:
        page = window(result.text, 0, limit) if result.text else Page("", 0, 0, 0)
        message = head + wrap_untrusted(f"{about}\n\n{page.text}", source)
        if page.next_index is not None:
            shown = f"characters 0-{page.end} of {page.total}"
            message += "\n" + truncation_marker(shown, f"call the fetch tool with start_index={page.end}")
        over = len(message) - budget
        if over <= 0 or limit <= _MIN_WINDOW:
            return message
        limit = max(_MIN_WINDOW, min(limit, page.end) - over)
