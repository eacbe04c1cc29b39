"""HTML to what a model reads: metadata, the main content, Markdown, plain text, links; JSON selection.

Parsing is lxml's libxml2 HTML parser used directly: BeautifulSoup on the same parser builds a Python object
per node and took 1.9 s for a 5 MB page here, against 0.18 s for lxml alone (see the README), so the main
content finder and the Markdown writer below walk lxml elements. Nothing here knows about MCP or HTTP.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from patchbay_common.errors import UserError

__all__ = ["MAX_DEPTH", "MAX_TAGS", "Document", "decode_body", "parse_html", "select_json"]

MAX_TAGS = 150_000
"""Tags converted per page: a longer page is cut before parsing (its parse tree would cost hundreds of MB)."""
MAX_DEPTH = 120
"""Element nesting kept: deeper subtrees become their plain text (the Markdown writer recurses per level)."""
MAX_SELECTOR_CHARS = 1000

# Elements that never carry readable content.
_DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed", "canvas",
    "form", "button", "input", "select", "textarea", "option", "dialog", "link", "meta", "base",
)  # fmt: skip
# Page furniture: navigation, headers and footers, sidebars.
_FURNITURE_TAGS = ("nav", "header", "footer", "aside", "menu")
# Words in an id or class that mark furniture. Strong ones always do; weak ones ("navigation", "menu",
# "tags") also appear in section ids made from headings, so they count only for short or link-heavy blocks.
_FURNITURE_STRONG = re.compile(
    r"(^|[-_\s])(sidebar|side-bar|breadcrumbs?|footer|masthead|site-header|comments?|share|sharing|social|"
    r"related|recommended|promo|advert|ads?|ad-slot|sponsor|banner|cookie|consent|newsletter|subscribe|signup|"
    r"popup|modal|skip-link|most-read)($|[-_\s\d])",
    re.IGNORECASE,
)
_FURNITURE_WEAK = re.compile(
    r"(^|[-_\s])(nav|navbar|navigation|menu|pagination|pager|toolbar|tags|header|bar)($|[-_\s\d])",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    (
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "td", "th",
        "ul", "body", "html",
    )
)  # fmt: skip
_ANCHOR_MARKS = frozenset(("\u00b6", "\u00a7", "#", "\U0001f517"))
_WS = re.compile(r"[ \t\r\n\f\v]+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)


# --- bytes to text ------------------------------------------------------------------------------------


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(body: bytes, header_charset: str | None, *, html: bool) -> tuple[str, str]:
    """Decode a body: BOM, then the Content-Type charset, then `<meta charset>`, then UTF-8, then detection.

    Returns the text and the name of the encoding used.
    """
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return body.decode(name, errors="replace").lstrip("\ufeff"), name
    candidates = [_codec(header_charset)]
    if html:
        found = _META_CHARSET.search(body[:4096])
        candidates.append(_codec(found.group(1).decode("ascii", "replace")) if found else None)
    for candidate in candidates:
        if candidate is not None:
            # Browsers read "iso-8859-1" and "ascii" as windows-1252, a superset; so do we.
            chosen = "cp1252" if candidate in ("latin-1", "iso8859-1", "ascii") else candidate
            return body.decode(chosen, errors="replace"), chosen
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # only for bodies that declare nothing and are not UTF-8

    best = from_bytes(body[:200_000]).best()
    name = best.encoding if best is not None else "cp1252"
    return body.decode(name, errors="replace"), name


# --- the document -------------------------------------------------------------------------------------


@dataclass
class Document:
    """A parsed HTML page: its metadata, and renderings of its main content."""

    root: Any
    url: str
    title: str | None = None
    description: str | None = None
    canonical: str | None = None
    language: str | None = None
    cut_at: int | None = None  # characters of the page converted, when it had more than MAX_TAGS tags
    _main: Any = field(default=None, repr=False)

    # -- metadata --

    def _read_metadata(self) -> None:
        head = self.root.find("head")
        scope = head if head is not None else self.root
        metas: dict[str, str] = {}
        for meta in scope.iter("meta"):
            key = (meta.get("property") or meta.get("name") or "").strip().lower()
            content = meta.get("content")
            if key and content and key not in metas:
                metas[key] = _WS.sub(" ", content).strip()
        title_el = head.find("title") if head is not None else self.root.find(".//title")
        title = _WS.sub(" ", _text(title_el)).strip() if title_el is not None else ""
        self.title = title or metas.get("og:title") or None
        self.description = metas.get("description") or metas.get("og:description") or None
        for link in scope.iter("link"):
            if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
                self.canonical = urljoin(self.url, link.get("href").strip())
                break
        lang = self.root.get("lang") or self.root.get("xml:lang") or metas.get("og:locale")
        self.language = lang.strip() if lang else None

    # -- cleaning and main content --

    def _clean(self) -> None:
        from lxml import etree

        etree.strip_elements(
            self.root, etree.Comment, etree.ProcessingInstruction, *_DROP_TAGS, with_tail=False
        )
        hidden = []
        for element in self.root.iter():  # a Python walk: 10x faster here than the equivalent XPath
            attrib = element.attrib
            if not attrib:
                continue
            style = (attrib.get("style") or "").replace(" ", "").lower()
            if (
                attrib.get("hidden") is not None
                or attrib.get("aria-hidden") == "true"
                or "display:none" in style
                or "visibility:hidden" in style
            ):
                hidden.append(element)
            elif element.tag == "a" and (element.text or "").strip() in _ANCHOR_MARKS and len(element) == 0:
                # Sphinx/rustdoc/mdBook heading anchors: a lone pilcrow or section sign.
                hidden.append(element)
        for element in hidden:
            _remove(element)

    def main_content(self) -> Any:
        """The element holding the page's main content (computed once)."""
        if self._main is None:
            self._main = _find_main(self.root)
        return self._main

    def select(self, selector: str) -> list[Any]:
        """Elements matching a CSS selector, in document order."""
        from cssselect import SelectorError
        from lxml.cssselect import CSSSelector

        if len(selector) > MAX_SELECTOR_CHARS:
            raise UserError(
                f"The CSS selector is {len(selector)} characters long; "
                f"at most {MAX_SELECTOR_CHARS} are read.",
                hint="Give a shorter selector such as 'article', '#content' or 'div.post > p'.",
            )
        try:
            compiled = CSSSelector(selector)
        except (SelectorError, ValueError) as exc:
            raise UserError(
                f"The CSS selector {selector!r} is not valid ({exc}).",
                hint="Give a CSS selector such as 'article', '#content' or 'div.post > p'.",
            ) from None
        return list(compiled(self.root))

    # -- renderings --

    def markdown(self, elements: list[Any] | None = None) -> str:
        """Markdown of `elements` (default: the main content)."""
        targets = elements if elements is not None else [self.main_content()]
        return "\n\n".join(_MarkdownWriter(self.url).render(el) for el in targets).strip()

    def text(self, elements: list[Any] | None = None) -> str:
        """Plain text of `elements` (default: the main content), one paragraph per block."""
        targets = elements if elements is not None else [self.main_content()]
        return "\n\n".join(_MarkdownWriter(self.url, plain=True).render(el) for el in targets).strip()

    def html(self, elements: list[Any] | None = None) -> str:
        """Cleaned HTML of `elements` (default: the main content)."""
        from lxml import etree

        targets = elements if elements is not None else [self.main_content()]
        return "\n".join(
            etree.tostring(el, encoding="unicode", method="html", with_tail=False) for el in targets
        )

    def links(self, elements: list[Any] | None = None) -> list[tuple[str, str]]:
        """Every distinct absolute http(s) link in `elements` (default: the whole page), with its text."""
        seen: dict[str, str] = {}
        for scope in elements if elements is not None else [self.root]:
            for anchor in scope.iter("a"):
                href = (anchor.get("href") or "").strip()
                if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
                    continue
                absolute = urljoin(self.url, href)
                if not absolute.startswith(("http://", "https://")):
                    continue
                text = _WS.sub(" ", _text(anchor)).strip() or anchor.get("title") or ""
                if absolute not in seen or (not seen[absolute] and text):
                    seen[absolute] = text
        return list(seen.items())


def parse_html(html: str, url: str) -> Document:
    """Parse an HTML page, read its metadata, and strip scripts, styles and hidden elements."""
    from lxml import etree

    # libxml2 refuses str input that carries an XML encoding declaration; the text is decoded already.
    html = re.sub(r"^\s*<\?xml[^>]*>", "", html, count=1)
    cut_at = None
    if html.count("<") > MAX_TAGS:  # counted in C; only a page this large pays for finding the cut
        cut_at = -1
        for _ in range(MAX_TAGS):
            cut_at = html.find("<", cut_at + 1)
        html = html[:cut_at]
    # The plain etree parser, not lxml.html's: its per-element class lookup costs a third of the walk.
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False, huge_tree=True)
    root = etree.fromstring(html, parser) if html.strip() else None
    if root is None:
        root = etree.fromstring("<html><body></body></html>", parser)
    document = Document(root=root, url=url, cut_at=cut_at)
    document._read_metadata()
    document._clean()
    _flatten_deep(root, MAX_DEPTH)
    return document


def _flatten_deep(root: Any, depth: int) -> None:
    """Replace each subtree below `depth` levels by its text, so no walk below recurses deeper."""
    # One XPath step per level, evaluated in C: the elements exactly `depth` levels down.
    for element in root.xpath("/" + "/".join(["*"] * depth)):
        if len(element):
            text = _WS.sub(" ", _text(element))
            for child in list(element):
                element.remove(child)
            element.text = text


# --- main content -------------------------------------------------------------------------------------


def _text(element: Any) -> str:
    return "".join(element.itertext())


def _remove(element: Any) -> None:
    """Remove an element but keep its tail text in place."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _text_len(element: Any) -> int:
    """Characters of text, whitespace included (counted by libxml2, in C: this runs on many blocks)."""
    return int(element.xpath("string-length(string())"))


def _link_len(element: Any) -> int:
    return sum(_text_len(a) for a in element.iter("a"))


# Only containers are judged by id and class: an <a class="header"> inside a heading is content.
_CONTAINER_TAGS = frozenset(("div", "section", "ul", "ol", "dl", "table", "p", "details", "figure"))
_WALKED_TAGS = (*_CONTAINER_TAGS, *("nav", "header", "footer", "aside", "menu", "main", "article", "form"))
_MARKS_CHARS = 500
_FURNITURE_ROLES = frozenset(("navigation", "banner", "contentinfo", "complementary", "search"))


def _is_furniture(element: Any) -> bool:
    if element.tag in _FURNITURE_TAGS:
        return True
    attrib = element.attrib
    if not attrib:
        return False
    if attrib.get("role") in _FURNITURE_ROLES:
        return True
    # Real ids and classes are short; a site's megabyte-long one would hold the GIL in one regex search.
    marks = (attrib.get("id") or "")[:_MARKS_CHARS] + " " + (attrib.get("class") or "")[:_MARKS_CHARS]
    if len(marks) < 3 or element.tag not in _CONTAINER_TAGS:
        return False
    if _FURNITURE_STRONG.search(marks):
        return True
    if _FURNITURE_WEAK.search(marks):
        length = _text_len(element)
        return length < 300 or _link_len(element) > 0.5 * length
    return False


def _find_main(root: Any) -> Any:
    """The main content: <main>/<article>/role=main when it holds most of the text, else the densest block.

    Furniture (nav, header, footer, aside, and blocks whose id or class names them) is removed first, unless
    removing it would leave almost nothing (a page that is all "sidebar").
    """
    body = root.find("body")
    if body is None:
        body = root
    total = _text_len(body) or 1
    outer: list[Any] = []
    candidates: list[Any] = []
    inside: set[Any] = set()  # the walked elements inside an outer furniture block (never judged)
    # One walk over block-level elements (lxml filters the tags in C) collects the outermost furniture
    # blocks and the candidates outside them; what lies inside furniture is skipped, so the walk stays
    # linear however deeply furniture nests.
    for el in body.iter(*_WALKED_TAGS):
        if el is body or el in inside:
            continue
        if el.tag in ("main", "article") or el.get("role") == "main" or el.get("itemprop") == "articleBody":
            candidates.append(el)
        elif _is_furniture(el):
            outer.append(el)
            inside.update(el.iter(*_WALKED_TAGS))
    # Drop only outermost furniture blocks, and keep them if they hold most of the page (then it is content).
    removed = sum(_text_len(el) for el in outer)
    if removed < 0.85 * total:
        for element in outer:
            if (
                element.tag == "header"
                and element.getparent() is not None
                and element.getparent().tag == "article"
            ):
                continue  # an article's own header holds its title
            _remove(element)
        total = max(1, total - removed)

    candidates = [el for el in candidates if el.getparent() is not None]
    sizes = {el: _text_len(el) for el in candidates}
    best = max(candidates, key=sizes.__getitem__, default=None)
    if best is not None and sizes[best] >= 0.3 * total:
        return best

    # Score blocks by the paragraph text they hold (readability's idea, simplified): each paragraph-like
    # element gives its parent its text length and its grandparent half, minus link-heavy text.
    scores: dict[Any, float] = {}
    for para in body.iter("p", "pre", "td", "blockquote", "li", "dd"):
        length = _text_len(para)
        if length < 25:
            continue
        weight = length * (1.0 - min(0.9, _link_len(para) / max(length, 1)))
        parent = para.getparent()
        if parent is None:
            continue
        scores[parent] = scores.get(parent, 0.0) + weight
        grand = parent.getparent()
        if grand is not None:
            scores[grand] = scores.get(grand, 0.0) + weight / 2
    if not scores:
        return body
    top = max(scores, key=scores.__getitem__)
    # A block that holds only part of a long article (e.g. one <section>): climb while the parent adds
    # substantial scored text without being mostly links.
    while top.getparent() is not None and top is not body:
        parent = top.getparent()
        if scores.get(parent, 0.0) < scores[top] * 1.25:
            break
        top = parent
    return top


# --- Markdown -----------------------------------------------------------------------------------------


class _MarkdownWriter:
    """Render an lxml element as Markdown (or plain text) in one pass.

    Markdown punctuation in page text is not backslash-escaped: escapes cost a model tokens and attention,
    and a stray "*" or "_" rarely changes what a model understands.
    """

    def __init__(self, base_url: str, *, plain: bool = False) -> None:
        self.base = base_url
        self.plain = plain
        self._joined: dict[str, str] = {}

    def _absolute(self, href: str) -> str:
        if href.startswith(("https://", "http://")):
            return href
        joined = self._joined.get(href)
        if joined is None:
            joined = self._joined[href] = urljoin(self.base, href)
        return joined

    def render(self, element: Any) -> str:
        if element.tag in _BLOCK_TAGS:
            text = self._block(element)
        else:
            text = _WS.sub(" ", self._inline(element)).strip()
        return re.sub(r"\n{3,}", "\n\n", text)

    # Blocks: lists of strings, each a paragraph-level chunk.

    def _blocks(self, element: Any) -> list[str]:
        out: list[str] = []
        inline: list[str] = []

        def flush() -> None:
            text = " ".join("".join(inline).split())
            if text:
                out.append(text)
            inline.clear()

        if element.text:
            inline.append(element.text)
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in _BLOCK_TAGS:
                flush()
                rendered = self._block(child)
                if rendered:
                    out.append(rendered)
            elif tag:
                inline.append(self._inline(child))
            if child.tail:
                inline.append(child.tail)
        flush()
        return out

    def _block(self, el: Any) -> str:
        tag = el.tag
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = _WS.sub(" ", self._inline_content(el)).strip()
            return text if self.plain or not text else f"{'#' * int(tag[1])} {text}"
        if tag == "hr":
            return "" if self.plain else "---"
        if tag == "pre":
            return self._pre(el)
        if tag in ("ul", "ol"):
            return self._list(el)
        if tag == "blockquote":
            inner = self._children_blocks(el)
            return (
                inner if self.plain else "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
            )
        if tag == "table":
            return self._table(el)
        if tag == "dl":
            parts = []
            for child in el:
                if child.tag == "dt":
                    term = _WS.sub(" ", self._inline_content(child)).strip()
                    parts.append(term if self.plain else f"**{term}**")
                elif child.tag == "dd":
                    parts.append(self._children_blocks(child))
            return "\n\n".join(p for p in parts if p)
        return self._children_blocks(el)

    def _children_blocks(self, el: Any) -> str:
        return "\n\n".join(b for b in self._blocks(el) if b.strip())

    def _pre(self, el: Any) -> str:
        code = _text(el).strip("\n")
        if self.plain:
            return code
        language = ""
        for node in (el, el.find("code")):
            if node is not None:
                found = re.search(r"(?:language|lang)-([\w+#.-]+)", (node.get("class") or "")[:_MARKS_CHARS])
                if found:
                    language = found.group(1)
                    break
        fence = "```"
        while fence in code:
            fence += "`"
        return f"{fence}{language}\n{code}\n{fence}"

    def _list(self, el: Any, depth: int = 0) -> str:
        lines: list[str] = []
        ordered = el.tag == "ol"
        number = int(el.get("start") or 1) if (el.get("start") or "1").isdigit() else 1
        for item in el:
            if item.tag != "li":
                continue
            marker = f"{number}." if ordered else "-"
            number += 1
            nested: list[str] = []
            inline: list[str] = [item.text or ""]
            for child in item:
                if child.tag in ("ul", "ol"):
                    nested.append(self._list(child, depth + 1))
                elif isinstance(child.tag, str) and child.tag in _BLOCK_TAGS:
                    inline.append(" " + self._children_blocks(child).replace("\n\n", " ") + " ")
                elif isinstance(child.tag, str):
                    inline.append(self._inline(child))
                if child.tail:
                    inline.append(child.tail)
            text = _WS.sub(" ", "".join(inline)).strip()
            indent = "  " * depth
            lines.append(f"{indent}{marker} {text}" if not self.plain else f"{indent}{text}")
            lines.extend(nested)
        return "\n".join(lines)

    def _table(self, el: Any) -> str:
        rows: list[list[str]] = []
        header = False
        for row in el.iter("tr"):
            cells = [c for c in row if c.tag in ("td", "th")]
            if not cells:
                continue
            if not rows and all(c.tag == "th" for c in cells):
                header = True
            rows.append([_WS.sub(" ", self._inline_content(c)).strip().replace("|", "\\|") for c in cells])
        if not rows:
            return ""
        if self.plain:
            return "\n".join(" | ".join(r) for r in rows)
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        if not header:
            rows.insert(0, [""] * width)
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)

    # Inline.

    def _inline_content(self, el: Any) -> str:
        parts = [el.text or ""]
        for child in el:
            if isinstance(child.tag, str):
                if child.tag in _BLOCK_TAGS:
                    parts.append(" " + self._inline_content(child) + " ")
                else:
                    parts.append(self._inline(child))
            if child.tail:
                parts.append(child.tail)
        return "".join(parts)

    def _inline(self, el: Any) -> str:
        tag = el.tag
        if tag == "br":
            return "\n" if self.plain else "  \n"
        if tag == "img":
            alt = _WS.sub(" ", el.get("alt") or "").strip()
            if self.plain:
                return alt
            src = el.get("src") or ""
            if not src or src.startswith("data:"):
                return alt
            return f"![{alt}]({self._absolute(src)})"
        if tag == "code" or tag in ("kbd", "samp", "tt"):
            code = _WS.sub(" ", _text(el))
            if self.plain or not code.strip():
                return code
            fence = "``" if "`" in code else "`"
            return f"{fence}{code}{fence}"
        inner = self._inline_content(el)
        if self.plain or not inner.strip():
            return inner
        if tag == "a":
            href = (el.get("href") or "").strip()
            if not href or href.startswith(("javascript:", "#")):
                return inner
            text = inner.strip()
            return f"[{text}]({self._absolute(href).replace(' ', '%20').replace(')', '%29')})"
        if tag in ("strong", "b"):
            return f"**{inner.strip()}**" if inner.strip() else inner
        if tag in ("em", "i", "cite"):
            return f"*{inner.strip()}*" if inner.strip() else inner
        if tag in ("del", "s", "strike"):
            return f"~~{inner.strip()}~~"
        return inner


# --- JSON ---------------------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_$][\w$-]*)|\[(\d+|\*|'[^']*'|\"[^\"]*\")\]|\.(\*)")


def select_json(data: Any, path: str) -> Any:
    """Select part of a JSON value with a simple path: `$.items[0].name`, `items[*].id`, `a['b c']`.

    Raises:
        UserError: the path is malformed or names something that is not there.
    """
    path = path.strip()
    if path in ("", "$"):
        return data
    rest = path[1:] if path.startswith("$") else path
    tokens: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _PATH_TOKEN.match(rest, position)
        if match is None:
            raise UserError(
                f"The JSON path {path!r} is not understood at {rest[position:]!r}.",
                hint="Use dotted keys and [n] indexes, e.g. $.items[0].name or items[*].id.",
            )
        key, bracket, star = match.groups()
        if key is not None:
            tokens.append(key)
        elif star is not None or bracket == "*":
            tokens.append("*")
        elif bracket is not None and bracket.isdigit():
            tokens.append(int(bracket))
        elif bracket is not None:
            tokens.append(bracket[1:-1])
        position = match.end()
    current: list[Any] = [data]
    wildcard = False
    for step in tokens:
        following: list[Any] = []
        for value in current:
            if step == "*":
                wildcard = True
                following.extend(
                    value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
                )
            elif (isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)) or (
                isinstance(step, str) and isinstance(value, dict) and step in value
            ):
                following.append(value[step])  # type: ignore[index]
        if not following and not wildcard:
            raise UserError(
                f"The JSON path {path!r} selects nothing: {step!r} is not there.",
                hint="Fetch without a selector to see the document's structure.",
            )
        current = following
    return current if wildcard else current[0]


def pretty_json(text: str, path: str | None) -> str:
    """Pretty-print a JSON document, or the part `path` selects.

    Raises:
        UserError: the body is not JSON.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise UserError(
            "The JSON document is nested too deeply to pretty-print.",
            hint="Fetch it with raw=true to read it as sent.",
        ) from None
    except ValueError as exc:
        raise UserError(
            f"The response is not valid JSON ({exc}).",
            hint="Fetch it with format='text' or format='html' instead.",
        ) from None
    if path:
        data = select_json(data, path)
    try:
        return json.dumps(data, indent=2, ensure_ascii=False)
    except RecursionError:
        raise UserError(
            "The JSON document is nested too deeply to pretty-print.",
            hint="Fetch it with raw=true to read it as sent.",
        ) from None
