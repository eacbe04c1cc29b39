"""Turn a fetched response into what the model reads, in the format it asked for, and cut it into pages.

Pages are cut the same way every time for the same rendering (at a paragraph, line or word break near the
limit), and renderings are kept for a while, so `start_index` paging neither repeats nor skips text even
if the site changes its page between two calls.

Converting is CPU work on input the site chooses (a 5 MB page of tags, nesting thousands deep, a JSON
document nested as deep), so `Converter` runs it in worker threads, a few at a time, each within a
deadline: the event loop keeps answering other calls meanwhile, and a conversion that overruns ends the
call with a clear text (its thread finishes on its own, holding its slot until then).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import anyio

from patchbay_common.errors import UserError
from patchbay_common.limits import human_size
from patchbay_fetch import extract
from patchbay_fetch.sanitize import clean, clean_url
from patchbay_fetch.web import Response

__all__ = [
    "Converter",
    "Format",
    "Page",
    "RenderCache",
    "Rendered",
    "describe",
    "page_metadata",
    "pdf_text",
    "render",
    "window",
]

T = TypeVar("T")

Format = Literal["markdown", "text", "html", "json", "links"]

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_SUFFIXES = ("/json", "+json")
_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


@dataclass
class Rendered:
    """The text of a response in one format, plus page metadata when it was HTML."""

    text: str
    meta: dict[str, str] = field(default_factory=dict)
    image: tuple[bytes, str] | None = None  # (data, format) when the response is an image to show


@dataclass(frozen=True)
class Page:
    """One window of a rendering."""

    text: str
    start: int
    end: int
    total: int

    @property
    def next_index(self) -> int | None:
        """Where the next window starts, or None at the end."""
        return self.end if self.end < self.total else None


def _looks_html(response: Response) -> bool:
    if response.mime in _HTML_TYPES:
        return True
    if response.mime == "":
        return b"<html" in response.body[:1024].lower() or b"<!doctype html" in response.body[:1024].lower()
    return False


def _shown_mime(mime: str) -> str:
    """A media type as the site sent it, reduced to the characters a media type is made of."""
    return re.sub(r"[^\w.+/-]", "", mime)[:100]


def _is_json(response: Response) -> bool:
    return response.mime.endswith(_JSON_SUFFIXES)


def _metadata(response: Response, document: extract.Document | None) -> dict[str, str]:
    meta = {"url": response.final_url, "status": str(response.status)}
    if response.redirects:
        meta["redirected_from"] = response.redirects[0]
    if response.content_type:
        meta["content_type"] = response.content_type
    if document is not None:
        for key in ("title", "description", "canonical", "language"):
            value = getattr(document, key)
            if value:
                meta[key] = value
        if document.cut_at is not None:
            meta["cut_at"] = str(document.cut_at)
    return meta


def render(
    response: Response,
    fmt: Format,
    *,
    selector: str | None = None,
    raw: bool = False,
    allow_pdf: bool = False,
    allow_images: bool = False,
) -> Rendered:
    """Render `response` as `fmt`; `raw` returns the body as text, unprocessed.

    Raises:
        UserError: the content cannot be shown in that format, or the selector selects nothing.
    """
    mime = response.mime
    if mime in _IMAGE_TYPES and not raw:
        if not allow_images:
            raise UserError(
                f"{response.final_url} is an image ({mime}); this server is not set up to return images.",
                hint="An operator can enable images with --allow-images.",
            )
        return Rendered("", _metadata(response, None), image=(response.body, _IMAGE_TYPES[mime]))
    if mime == "application/pdf" and not raw:
        if not allow_pdf:
            raise UserError(
                f"{response.final_url} is a PDF; this server is not set up to read PDFs.",
                hint="An operator can enable PDFs with --allow-pdf (install patchbay-fetch[pdf]).",
            )
        return Rendered(pdf_text(response.body), _metadata(response, None))
    html = _looks_html(response)
    text_like = (
        html
        or _is_json(response)
        or mime.startswith("text/")
        or mime.endswith("+xml")
        or mime
        in (
            "application/xml",
            "application/javascript",
            "",
        )
    )
    if not text_like:
        raise UserError(
            f"{response.final_url} is {_shown_mime(mime) or 'binary data'} "
            f"({human_size(len(response.body))}), not text.",
            hint="This server shows HTML, text, JSON and XML" + (", PDFs" if allow_pdf else "") + ".",
        )
    body, _encoding = extract.decode_body(response.body, response.charset, html=html)
    if raw:
        return Rendered(body, _metadata(response, None))
    if fmt == "json" or (_is_json(response) and fmt in ("markdown", "text")):
        return Rendered(extract.pretty_json(body, selector), _metadata(response, None))
    if not html:
        if fmt == "links":
            raise UserError(
                f"{response.final_url} is {_shown_mime(mime)}, not HTML, so it has no links to list."
            )
        return Rendered(body, _metadata(response, None))
    document = extract.parse_html(body, response.final_url)
    elements = None
    if selector:
        elements = document.select(selector)
        if not elements:
            raise UserError(
                f"The selector {selector!r} matches nothing on {response.final_url}.",
                hint="Fetch without a selector, or with format='html', to see the page's structure.",
            )
    meta = _metadata(response, document)
    if fmt == "links":
        links = document.links(elements)
        text = "\n".join(
            f"- [{label.replace(']', ')')}]({url})" if label else f"- {url}" for url, label in links
        )
        return Rendered(text or "(no links)", meta)
    if fmt == "text":
        return Rendered(document.text(elements), meta)
    if fmt == "html":
        return Rendered(document.html(elements), meta)
    text = document.markdown(elements)
    if not text.strip():
        text = document.text([document.root])
    return Rendered(text, meta)


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page by page (pypdf, the optional `pdf` extra).

    Raises:
        UserError: pypdf is not installed, or the PDF cannot be read.
    """
    try:
        import io

        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise UserError(
            "Reading PDFs needs the optional pypdf package, which is not installed.",
            hint="An operator can install it with: pip install 'patchbay-fetch[pdf]'.",
        ) from None
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [
            f"## Page {n}\n\n{(page.extract_text() or '').strip()}" for n, page in enumerate(reader.pages, 1)
        ]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise UserError(f"The PDF could not be read ({exc}).") from None
    return "\n\n".join(pages)


def window(text: str, start: int, max_length: int) -> Page:
    """The window of `text` from `start`, at most `max_length` characters, ending at a natural break.

    Raises:
        UserError: `start` is past the end.
    """
    total = len(text)
    if start > 0 and start >= total:
        raise UserError(
            f"start_index {start} is past the end of the content ({total} characters).",
            hint="There is no more content; the whole page has been read.",
        )
    end = min(total, start + max_length)
    if end < total:
        floor = start + max(1, (max_length * 4) // 5)
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, floor, end)
            if cut > start:
                end = cut + len(sep)
                break
    return Page(text[start:end], start, end, total)


class RenderCache:
    """Recent renderings by (url, format, selector, raw), so paging reads one fixed text."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, ttl: float = 900.0) -> None:
        self._items: OrderedDict[tuple[str, str, str, bool], tuple[float, Rendered]] = OrderedDict()
        self._size = 0
        self._max = max_bytes
        self._ttl = ttl

    def get(self, key: tuple[str, str, str, bool]) -> Rendered | None:
        """The rendering kept for `key`, if it is recent."""
        item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self._ttl:
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: tuple[str, str, str, bool], rendered: Rendered) -> None:
        """Keep `rendered` for `key` (least recently used renderings are dropped first)."""
        if rendered.image is not None:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old[1].text)
        self._items[key] = (time.monotonic(), rendered)
        self._size += len(rendered.text)
        while self._size > self._max and self._items:
            _, (_, dropped) = self._items.popitem(last=False)
            self._size -= len(dropped.text)


def describe(meta: dict[str, str], page: Page) -> str:
    """The header lines shown above the frame: address, status and the character window.

    The addresses come from the site (redirects), so they are cleaned; everything else the site wrote
    (content type, title, description, canonical URL, language) goes inside the frame (`page_metadata`).
    """
    lines = [f"URL: {clean_url(meta.get('url', ''))}"]
    if "redirected_from" in meta:
        lines[0] += f" (redirected from {clean_url(meta['redirected_from'])})"
    lines.append(f"Status: {clean(meta.get('status', ''), 10)}")
    lines.append(f"Characters: {page.start}-{page.end} of {page.total}")
    return "\n".join(lines)


def page_metadata(meta: dict[str, str]) -> str:
    """The lines about the page that the site wrote, shown inside the frame above its content."""
    lines = []
    for key, label in (("content_type", "Content-Type"), ("title", "Title"), ("description", "Description"),
                       ("canonical", "Canonical"), ("language", "Language")):  # fmt: skip
        if key in meta:
            lines.append(f"{label}: {clean(meta[key])}")
    if "cut_at" in meta:
        lines.append(
            f"Note: the page has more than {extract.MAX_TAGS:,} tags; only its first {int(meta['cut_at']):,} "
            "characters were converted (raw=true returns the body as sent)."
        )
    return "\n".join(lines)


class Converter:
    """Runs conversions in worker threads, at most `slots` at a time, each within a deadline.

    A conversion that overruns is abandoned (the call ends with a clear text) but keeps its slot until
    its thread ends, so abandoned work can never pile up beyond `slots` threads.
    """

    def __init__(self, slots: int = 2) -> None:
        self._free = threading.BoundedSemaphore(slots)

    async def run(self, work: Callable[[], T], *, seconds: float, what: str) -> T:
        """`work()` in a worker thread; `UserError` when it (with the wait for a slot) exceeds `seconds`."""
        try:
            with anyio.fail_after(seconds):
                # A slot frees in a worker thread, which cannot set an event loop's Event: poll.
                while not self._free.acquire(blocking=False):  # noqa: ASYNC110
                    await anyio.sleep(0.02)
                return await self._in_thread(work)
        except TimeoutError:
            raise UserError(
                f"Converting {what} did not finish within {seconds:g} s: the page is too large or too deeply "
                "nested to convert in time.",
                hint="Fetch it with raw=true, a selector for the part you need, or another page.",
            ) from None

    async def _in_thread(self, work: Callable[[], T]) -> T:
        state = {"started": False, "abandoned": False}
        lock = threading.Lock()

        def run() -> T | None:
            with lock:
                if state["abandoned"]:
                    return None  # cancelled before it began; the slot was given back already
                state["started"] = True
            try:
                return work()
            finally:
                self._free.release()

        try:
            result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except BaseException:
            with lock:
                if not state["started"]:
                    state["abandoned"] = True
                    self._free.release()
            raise
        return result  # type: ignore[return-value]  # None only when abandoned, and then this never returns
