"""Compact page snapshots: Playwright's accessibility snapshot, re-rendered at a fraction of its size.

Playwright's "ai" snapshot (`page.aria_snapshot(mode="ai")`) is YAML with a `[ref=eN]` on almost every
node, a `[cursor=pointer]` on every link, a `/url:` line under every link, and a `generic` wrapper for every
`<div>`. Most of those characters carry nothing a model can act on. This module parses that text into a tree
and renders it again:

- refs are shown, as `[e5]`, only where a tool can use them: controls (links, buttons, fields, options,
  tabs, menu items...), anything with a pointer cursor, iframes, and landmarks/sections (main, navigation,
  form, dialog, table, ...) so that a subtree can be asked for by ref;
- unnamed wrappers (generic, group, list, listitem, paragraph, none) disappear and their children move up;
- a link's URL follows it on the same line (`-> /path`); headings read `h2 "Title"`;
- one space of indentation per level, no YAML dashes.

Refs are Playwright's own, so an action tool finds the element with `aria-ref=<ref>` and the same element
keeps its ref across snapshots of the same document. Nothing here imports Playwright or MCP.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = [
    "MAX_DEPTH",
    "Entry",
    "Node",
    "Rendering",
    "cut_window",
    "diff_lines",
    "find_ref",
    "outline",
    "parse",
    "refs_in",
    "render",
    "rendering",
    "strip_annotations",
]

MAX_DEPTH = 150
"""Levels rendered as a tree; deeper ones become one line of text (the renderer recurses per level)."""
_DIFF_PRODUCT = 1_000_000

INTERACTIVE = frozenset(
    {
        "button",
        "link",
        "textbox",
        "searchbox",
        "combobox",
        "checkbox",
        "radio",
        "switch",
        "slider",
        "spinbutton",
        "option",
        "tab",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "treeitem",
        "listbox",
        "iframe",
    }
)
"""Roles an action tool can act on: these always show their ref."""

SECTIONS = frozenset(
    {
        "main",
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "region",
        "form",
        "search",
        "dialog",
        "alertdialog",
        "article",
        "table",
        "tabpanel",
        "menu",
        "tablist",
        "toolbar",
        "grid",
        "tree",
    }
)
"""Landmarks and sections: shown with their ref, so a snapshot can be narrowed to one of them."""

WRAPPERS = frozenset(
    {"generic", "group", "list", "listitem", "paragraph", "none", "presentation", "rowgroup"}
)
"""Roles dropped when unnamed: their children take their place."""

INLINE = frozenset(
    {
        "emphasis",
        "strong",
        "code",
        "time",
        "mark",
        "subscript",
        "superscript",
        "deletion",
        "insertion",
        "text",
    }
)
"""Roles of inline text: merged into the running text of their parent."""

_SHOWN_ATTRS = ("checked", "disabled", "expanded", "selected", "pressed", "invalid")
_KEY = re.compile(r'^(?P<role>[^\s"\[]+)(?: "(?P<name>(?:[^"\\]|\\.)*)")?(?P<attrs>(?: \[[^\]]*\])*)$')
_ATTR = re.compile(r"\[([^\]=]+)(?:=([^\]]*))?\]")
_SPACES = re.compile(r"\s+")
_REF = re.compile(r"(f\d+)?e\d+")
_REF_SHOWN = re.compile(r"\[((?:f\d+)?e\d+)(?: -> [^\]\s]*)?\]")
"""A ref as rendered: `[e12]` after an element's role and name, `[e12 -> /url]` after a link's text."""
_WORDS = re.compile(r"\S+")
_UNSPLIT = re.compile(r" ?\[(?:f\d+)?e\d+(?: -> [^\]\s]*)?\](?: -> \S+)?| -> \S+")
"""A ref with its link target, or a target alone: a window is never split inside one."""
_INLINE_NOTE = re.compile(r"\[(?:f\d+)?e\d+(?: -> [^\]\s]*)?\]")


@dataclass
class Node:
    """One node of the accessibility tree."""

    role: str
    name: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    props: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def ref(self) -> str | None:
        """Playwright's ref for this element, if it has one."""
        return self.attrs.get("ref")


# --- parsing ---------------------------------------------------------------------------------------------


def _quoted(text: str) -> tuple[str, str]:
    """A YAML-quoted scalar at the start of `text`: its value and what follows it."""
    if text.startswith("'"):
        out: list[str] = []
        i = 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out), text[i + 1 :]
            out.append(text[i])
            i += 1
        return "".join(out), ""
    i, escaped = 1, False
    while i < len(text):
        char = text[i]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            break
        i += 1
    raw = text[: i + 1]
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw[1:-1]
    return str(value), text[i + 1 :]


def _split_item(item: str) -> tuple[str, str | None, bool]:
    """One `- ...` item as (key, inline value or None, has-children)."""
    if item[:1] in ("'", '"'):
        key, rest = _quoted(item)
    else:
        in_quote = escaped = False
        cut = len(item)
        for i, char in enumerate(item):
            if escaped:
                escaped = False
            elif char == "\\" and in_quote:
                escaped = True
            elif char == '"':
                in_quote = not in_quote
            elif char == ":" and not in_quote and (i + 1 == len(item) or item[i + 1] == " "):
                cut = i
                break
        key, rest = item[:cut], item[cut:]
    if not rest:
        return key, None, False
    if rest == ":":
        return key, None, True
    value = rest[1:].strip()
    if value[:1] in ("'", '"'):
        value = _quoted(value)[0]
    return key, value, False


def _node(key: str) -> Node | None:
    match = _KEY.match(key)
    if match is None:
        return None
    name = match.group("name")
    if name is not None:
        with contextlib.suppress(ValueError):
            name = json.loads(f'"{name}"')
    attrs = {
        m.group(1): (m.group(2) if m.group(2) is not None else "true") for m in _ATTR.finditer(match["attrs"])
    }
    return Node(match.group("role"), name or "", attrs)


def parse(snapshot: str) -> Node:
    """Parse the YAML text of `aria_snapshot(mode="ai")` into a tree under a `fragment` root."""
    root = Node("fragment")
    stack: list[tuple[int, Node]] = [(-1, root)]
    for line in snapshot.splitlines():
        stripped = line.lstrip(" ")
        if not stripped.startswith("- "):
            continue
        indent = len(line) - len(stripped)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        key, value, has_children = _split_item(stripped[2:])
        if key.startswith("/"):
            parent.props[key[1:]] = value or ""
            continue
        if key == "text":
            parent.children.append(value or "")
            continue
        node = _node(key)
        if node is None:  # a bare text scalar
            parent.children.append(key if value is None else f"{key}: {value}")
            continue
        if value is not None:
            node.children.append(value)
        parent.children.append(node)
        if has_children:
            stack.append((indent, node))
    return root


# --- queries ---------------------------------------------------------------------------------------------


def find_ref(root: Node, ref: str) -> Node | None:
    """The node carrying `ref`, anywhere in the tree (depth first, document order; no recursion)."""
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if node.ref == ref:
            return node
        stack.extend(child for child in reversed(node.children) if isinstance(child, Node))
    return None


def frame_prefix(root: Node) -> str:
    """The ref prefix of the page's own frame ("f2" in f2e14; "" when its refs have none).

    Playwright numbers frames per browser context, so after a few navigations every ref of the page
    itself starts with the same `fN`; `render` drops it, and `full_ref` puts it back.
    """
    queue: deque[Node] = deque([root])
    while queue:
        node = queue.popleft()
        if node.ref:
            match = _REF.fullmatch(node.ref)
            return (match.group(1) or "") if match else ""
        queue.extend(child for child in node.children if isinstance(child, Node))
    return ""


def full_ref(ref: str, prefix: str) -> str:
    """A ref as shown (`e14`) as Playwright knows it (`f2e14`); refs into iframes are shown whole."""
    return f"{prefix}{ref}" if ref.startswith("e") else ref


def refs_in(rendered: Node | str) -> list[str]:
    """Every ref a compact rendering shows (of a tree, or the text itself), in document order."""
    text = render(rendered) if isinstance(rendered, Node) else rendered
    return [match.group(1) for match in _REF_SHOWN.finditer(text)]


# --- rendering -------------------------------------------------------------------------------------------

HEADING_ROLES = frozenset({"heading"})
"""Headings show their ref too: `snapshot(ref=...)` on a heading returns its whole section."""

OUTLINE_LANDMARKS = frozenset(
    {
        "main",
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "region",
        "search",
        "form",
        "article",
        "dialog",
        "alertdialog",
    }
)
"""Sections listed in an outline next to the headings."""

URL_CHARS = 500
"""A link target longer than this is shortened in the rendering (the ref still reaches the link)."""

_INLINE_DEPTH = 40
"""Inline markup nested deeper than this is not merged into running text (the tree shows it by level)."""
_ALIGN_WINDOW = 30_000
_ALIGN_FAR_MISSES = 20
_ALIGN_FAR_MIN = 20
_ANCHOR_MARKS = frozenset({"§", "¶", "#", "🔗"})
_CLOSING = ".,;:!?)]}'\u2019"


@dataclass
class Entry:
    """A heading or a landmark of a rendering: where its section starts and ends (line indices)."""

    role: str
    level: int
    title: str
    ref: str
    start: int
    end: int = -1


@dataclass
class Rendering:
    """A compact rendering: its lines, and the headings and landmarks found on the way."""

    lines: list[str]
    entries: list[Entry]

    @property
    def text(self) -> str:
        """The rendering as one text."""
        return "\n".join(self.lines)

    def size(self, entry: Entry) -> int:
        """Characters of an entry's section, as `section` returns it."""
        return len(self.section(entry))

    def section(self, entry: Entry) -> str:
        """The lines of an entry's section, dedented to the entry's own line."""
        lines = self.lines[entry.start : entry.end]
        indent = len(lines[0]) - len(lines[0].lstrip(" ")) if lines else 0
        return "\n".join(line[indent:] for line in lines)


@dataclass
class _Piece:
    """A run of text inside one block, with a link's ref and target to show after it."""

    text: str
    link: bool = False
    note: str = ""
    block_before: bool = False
    block_after: bool = False


def _text(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def _shows_ref(node: Node) -> bool:
    return node.ref is not None and (
        node.role in INTERACTIVE
        or node.role in SECTIONS
        or node.role in HEADING_ROLES
        or node.attrs.get("cursor") == "pointer"
    )


def _url(value: str) -> str:
    """A link target as shown: no spaces or closing brackets in it (they would end it), at most URL_CHARS."""
    shown = value.strip().replace(" ", "%20").replace("]", "%5D")
    return shown if len(shown) <= URL_CHARS else shown[:URL_CHARS] + "…"


def _lift_image_name(node: Node) -> None:
    """An unnamed link or button whose only content is a named image takes the image's name."""
    if node.name or len(node.children) != 1:
        return
    child = node.children[0]
    if isinstance(child, Node) and child.role == "img" and child.name and not child.children:
        node.name = child.name
        node.children = []


def _join(pieces: list[str]) -> str:
    """Join runs of text with single spaces, none before closing punctuation (when the page cannot say)."""
    out = ""
    for piece in pieces:
        if not piece:
            continue
        if out and piece[0] not in _CLOSING and not out.endswith(("(", "[", "{")):
            out += " "
        out += piece
    return out


def strip_annotations(line: str) -> str:
    """A rendered line without the refs and link targets set into running text (`word[e5 -> /x]`)."""
    return _INLINE_NOTE.sub("", line)


class _Aligner:
    """Finds runs of snapshot text in the page's own text (`innerText`) to learn spacing and line breaks.

    The accessibility snapshot trims every text node, so `sorted(` `iterable` `,` `/` ... could be read
    with or without spaces between them; the page's rendered text says which, and where a line breaks
    (a `<br>`, a block, a line of a `<pre>`). Both are compared without whitespace and case (CSS may
    upper-case what a reader sees): a run is looked for from where the last one was found, nearby first;
    a run not found keeps the guessed spacing.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        lowered = text.lower()
        self.folds = len(lowered) == len(text)
        self.lowered = lowered if self.folds else text
        self.pos = 0
        self.far_misses = 0
        self._whole: tuple[list[tuple[int, int]], list[int], str] | None = None

    def _words(self, start: int, stop: int) -> tuple[list[tuple[int, int]], list[int], str]:
        """The words between two positions of the page text, where each starts without spaces, joined."""
        words = [match.span() for match in _WORDS.finditer(self.lowered, start, stop)]
        offsets, total = [], 0
        for begin, end in words:
            offsets.append(total)
            total += end - begin
        return words, offsets, "".join(self.lowered[begin:end] for begin, end in words)

    def _find(self, needle: str, stop: int | None) -> tuple[list[tuple[int, int]], list[int], int] | None:
        """The words from the cursor to `stop` (None: the end, indexed once), and where `needle` starts."""
        if stop is not None:
            words, offsets, compact = self._words(self.pos, stop)
            found = compact.find(needle)
            return (words, offsets, found) if found >= 0 else None
        if self._whole is None:
            self._whole = self._words(0, len(self.text))
        words, offsets, compact = self._whole
        first = bisect.bisect_left(words, (self.pos, self.pos))
        found = compact.find(needle, offsets[first] if first < len(offsets) else len(compact))
        return (words, offsets, found) if found >= 0 else None

    def locate(self, pieces: list[str]) -> list[tuple[int, int]] | None:
        """The span of each piece in the page text, when the run is found there."""
        parts = ["".join((piece.lower() if self.folds else piece).split()) for piece in pieces]
        if not all(parts):
            return None
        needle = "".join(parts)
        found = None
        for reach in (3 * len(needle) + 3_000, 2 * len(needle) + _ALIGN_WINDOW):
            found = self._find(needle, min(len(self.text), self.pos + reach))
            if found is not None:
                break
        if found is None and len(needle) >= _ALIGN_FAR_MIN and self.far_misses < _ALIGN_FAR_MISSES:
            found = self._find(needle, None)
            if found is None:
                self.far_misses += 1
        if found is None:
            return None
        words, offsets, at = found

        def page(index: int) -> int:
            word = bisect.bisect_right(offsets, index) - 1
            return words[word][0] + index - offsets[word]

        spans = []
        for part in parts:
            spans.append((page(at), page(at + len(part) - 1) + 1))
            at += len(part)
        self.pos = spans[-1][1]
        return spans


class _Renderer:
    def __init__(self, *, text_limit: int | None, prefix: str, page_text: str | None) -> None:
        self.lines: list[str] = []
        self.entries: list[Entry] = []
        self.frames: list[list[Entry]] = [[]]
        self.text_limit = text_limit
        self.prefix = prefix
        self.aligner = _Aligner(_clean_page_text(page_text)) if page_text else None
        self.in_frame = 0
        self._inline: dict[int, bool] = {}

    # --- lines -----------------------------------------------------------------------------------------

    def line(self, depth: int, text: str) -> None:
        line = " " * depth + text
        if self.text_limit is not None:
            line = _abbreviate(line, self.text_limit)
        self.lines.append(line)

    def shown(self, ref: str) -> str:
        if self.prefix and ref.startswith(self.prefix + "e"):
            return ref[len(self.prefix) :]
        return ref

    def head(self, node: Node, name: str) -> str:
        level = node.attrs.get("level")
        role = f"h{level}" if node.role == "heading" and level else node.role
        parts = [role]
        if name:
            parts.append(json.dumps(_text(name), ensure_ascii=False))
        for attr in _SHOWN_ATTRS:
            value = node.attrs.get(attr)
            if value is not None and value != "false":
                parts.append(f"[{attr}]" if value == "true" else f"[{attr}={value}]")
        if _shows_ref(node):
            assert node.ref is not None
            parts.append(f"[{self.shown(node.ref)}]")
        for prop, value in node.props.items():
            if prop == "url":
                if value.strip():
                    parts.append(f"-> {_url(value)}")
            else:
                parts.append(f"({prop}: {_text(value)})")
        return " ".join(parts)

    # --- the tree ----------------------------------------------------------------------------------------

    def emit(self, node: Node, depth: int, level: int = 0) -> None:
        if depth >= MAX_DEPTH or level >= MAX_DEPTH:  # deeper levels become one line of their text
            text = _join(_texts(node))
            if text:
                self.line(depth, text)
            return
        if node.role in ("link", "button"):
            _lift_image_name(node)
        if node.role == "img" and not node.name and not node.children:
            return
        hoist = (
            (node.role in WRAPPERS or node.role in INLINE or node.role == "fragment")
            and not node.name
            and not _shows_ref(node)
        )
        if hoist:
            for prop, value in node.props.items():
                if value.strip():
                    self.line(depth, f"({prop}: {_text(value)})")
            self.children(node.children, depth, level + 1)
            return
        if node.role == "row" and node.children and all(self.is_cell(c) for c in node.children):
            cells = " | ".join(self.cell_text(c) for c in node.children if isinstance(c, Node))
            ref = f" [{self.shown(node.ref)}]" if _shows_ref(node) and node.ref else ""
            self.line(depth, f"row{ref}: {cells}")
            return
        if node.role == "iframe":
            self.in_frame += 1
        try:
            self.emit_block(node, depth, level)
        finally:
            if node.role == "iframe":
                self.in_frame -= 1

    def emit_block(self, node: Node, depth: int, level: int) -> None:
        children = node.children
        run_end = 0
        while run_end < len(children) and self.inline_kind(children[run_end], 0):
            run_end += 1
        name = node.name
        first: list[str] = []
        rest_lines: list[str] = []
        if run_end:
            pieces = self.flatten(children[:run_end])
            if node.role in ("link", "button") and not name and run_end == len(children):
                name = " ".join(self.run_lines(pieces))  # its text is its name
                children = []
                run_end = 0
            elif any(not p.link for p in pieces) or (
                run_end == len(children) and node.role not in INTERACTIVE and node.role not in SECTIONS
            ):  # a heading or a term that is a link reads as one line; a landmark lists its links
                lines = self.run_lines(pieces)
                if lines:
                    first, rest_lines = lines[:1], lines[1:]
            else:
                run_end = 0  # links only: each on its own line
        head = self.head(node, name)
        if first and _text(strip_annotations(first[0])) != _text(name):
            head = f"{head}: {first[0]}"
        entry = self.open_entry(node, name, first)
        self.line(depth, head)
        self.frames.append([])  # headings under a block end with it; under a hoisted wrapper they go on
        for text in rest_lines:
            self.line(depth + 1, text)
        self.children(children[run_end:], depth + 1, level + 1)
        self.close_frame()
        if entry is not None and entry.role != "heading":
            entry.end = len(self.lines)

    def children(self, children: list[Node | str], depth: int, level: int) -> None:
        """Emit children, merging each run of inline content (text, inline markup, links) into lines."""
        i = 0
        while i < len(children):
            j = i
            while j < len(children) and self.inline_kind(children[j], 0):
                j += 1
            if j == i:
                child = children[i]
                assert isinstance(child, Node)
                self.emit(child, depth, level)
                i += 1
                continue
            run = children[i:j]
            pieces = self.flatten(run)
            if any(not piece.link for piece in pieces):
                for text in self.run_lines(pieces):
                    self.line(depth, text)
            else:  # links with no text between them: each on its own line, as a link
                for child in run:
                    if isinstance(child, Node):
                        self.emit(child, depth, level)
            i = j

    # --- sections ----------------------------------------------------------------------------------------

    def open_entry(self, node: Node, name: str, first: list[str]) -> Entry | None:
        if not node.ref or not _shows_ref(node):
            return None
        if node.role == "heading":
            try:
                level = int(node.attrs.get("level", "2"))
            except ValueError:
                level = 2
            title = _title(name or (first[0] if first else ""))
            frame = self.frames[-1]
            while frame and frame[-1].level >= level:
                frame.pop().end = len(self.lines)
            entry = Entry("heading", level, title, self.shown(node.ref), len(self.lines))
            frame.append(entry)
        elif node.role in OUTLINE_LANDMARKS:
            entry = Entry(node.role, 0, _title(name), self.shown(node.ref), len(self.lines))
        else:
            return None
        self.entries.append(entry)
        return entry

    def close_frame(self) -> None:
        for entry in self.frames.pop():
            entry.end = len(self.lines)

    # --- running text ------------------------------------------------------------------------------------

    def inline_kind(self, child: Node | str, nesting: int) -> bool:
        """Whether `child` is part of running text: text, inline markup holding only that, or a plain link."""
        if isinstance(child, str):
            return True
        known = self._inline.get(id(child))
        if known is not None:
            return known
        found = self._inline_kind(child, nesting)
        self._inline[id(child)] = found
        return found

    def _inline_kind(self, node: Node, nesting: int) -> bool:
        if nesting >= _INLINE_DEPTH or node.props.keys() - {"url"}:
            return False
        if node.role == "link":
            if not node.children:
                return bool(node.name) and not node.name.isspace()
            if not all(self._inline_text_only(c, nesting + 1) for c in node.children):
                return False
            if node.name:
                shown = "".join(p.text for p in self.flatten(node.children)).replace(" ", "")
                return shown == node.name.replace(" ", "")
            return True
        if node.props or (node.role not in INLINE and node.role != "generic"):
            return False
        if node.attrs.get("cursor") == "pointer" or any(a in node.attrs for a in _SHOWN_ATTRS):
            return False
        if not node.children:
            return False  # an empty one says nothing; a named empty one keeps its own line
        return all(self.inline_kind(c, nesting + 1) for c in node.children)

    def _inline_text_only(self, child: Node | str, nesting: int) -> bool:
        if isinstance(child, str):
            return True
        if child.role == "link" or nesting >= _INLINE_DEPTH:
            return False
        return self._inline_kind(child, nesting) and all(
            self._inline_text_only(c, nesting + 1) for c in child.children
        )

    def flatten(self, run: list[Node | str]) -> list[_Piece]:
        """The text pieces of a run of inline content, in order, links marked with their ref and target."""
        pieces: list[_Piece] = []

        def visit(item: Node | str, link: bool, top: bool) -> None:
            if isinstance(item, str):
                text = _text(item)
                if text:
                    pieces.append(_Piece(text, link=link))
                return
            before = len(pieces)
            if item.children:
                for child in item.children:
                    visit(child, link or item.role == "link", False)
            elif item.name and item.role == "link":
                pieces.append(_Piece(_text(item.name), link=True))
            if item.role == "link" and len(pieces) > before and item.ref:
                target = _url(item.props.get("url", ""))
                ref = self.shown(item.ref)
                pieces[-1].note = f"[{ref} -> {target}]" if target else f"[{ref}]"
            if item.role == "generic" and top and len(pieces) > before:
                pieces[before].block_before = True
                pieces[-1].block_after = True

        for item in run:
            visit(item, False, True)
        return pieces

    def run_lines(self, pieces: list[_Piece]) -> list[str]:
        """The lines a reader sees for a run: spacing and line breaks from the page, else guessed."""
        if not pieces:
            return []
        spans = None
        if self.aligner is not None and not self.in_frame:
            spans = self.aligner.locate([piece.text for piece in pieces])
        out: list[str] = []
        if spans is not None and self.aligner is not None:
            page = self.aligner.text
            for i, (piece, (start, end)) in enumerate(zip(pieces, spans, strict=True)):
                out.append(page[start:end])
                out.append(piece.note)
                if i + 1 < len(spans):
                    gap = page[end : spans[i + 1][0]]
                    out.append(gap if "\n" in gap else (" " if gap else ""))
        else:
            previous: _Piece | None = None
            for piece in pieces:
                if previous is not None:
                    if previous.block_after or piece.block_before:
                        out.append("\n")
                    elif piece.text[0] not in _CLOSING and not previous.text.endswith(("(", "[", "{")):
                        out.append(" ")
                out.append(piece.text)
                out.append(piece.note)
                previous = piece
        lines = [line.rstrip() for line in "".join(out).split("\n")]
        return [line for line in lines if line.strip()]

    # --- tables ------------------------------------------------------------------------------------------

    def is_cell(self, child: Node | str) -> bool:
        return (
            isinstance(child, Node)
            and child.role in ("cell", "columnheader", "rowheader", "gridcell")
            and not _shows_ref(child)
            and all(self.inline_kind(c, 0) for c in child.children)
        )

    def cell_text(self, cell: Node) -> str:
        if not cell.children:
            return _text(cell.name)
        return " ".join(self.run_lines(self.flatten(cell.children))) or _text(cell.name)


def _title(text: str) -> str:
    """A heading's or landmark's title for an outline: its text without refs and anchor marks."""
    words = strip_annotations(text).split()
    while words and words[0] in _ANCHOR_MARKS:
        words.pop(0)
    while words and words[-1] in _ANCHOR_MARKS:
        words.pop()
    title = " ".join(words)
    return title if len(title) <= 200 else title[:200] + "…"


def _clean_page_text(text: str) -> str:
    """The page's innerText as compared with snapshot text: no soft hyphens, no zero-width spaces, no NBSP."""
    return text.replace("\u00ad", "").replace("\u200b", "").replace("\r", "").replace("\u00a0", " ")


def rendering(
    root: Node, *, text_limit: int | None = None, prefix: str = "", page_text: str | None = None
) -> Rendering:
    """The compact rendering of a tree (or subtree), with its headings and landmarks.

    `page_text` is the page's `innerText`: runs of text are looked up in it to keep the page's spacing
    and line breaks (`sorted(iterable, /, *, key=None)` instead of `sorted ( iterable , / ...`); without
    it they are guessed. With `text_limit`, a line of running text longer than that is cut at a word
    boundary and ends with `...(+N chars)`; lines that carry a ref are never cut. With `prefix` (see
    `frame_prefix`), refs of the page's own frame are shown without it.
    """
    renderer = _Renderer(text_limit=text_limit, prefix=prefix, page_text=page_text)
    renderer.emit(root, 0)
    while renderer.frames:
        renderer.close_frame()
    for entry in renderer.entries:
        if entry.end < 0:
            entry.end = len(renderer.lines)
    return Rendering(renderer.lines, renderer.entries)


def render(
    root: Node, *, text_limit: int | None = None, prefix: str = "", page_text: str | None = None
) -> str:
    """The compact text of a tree (or subtree); see `rendering`."""
    return rendering(root, text_limit=text_limit, prefix=prefix, page_text=page_text).text


def outline(found: Rendering, max_title: int = 200) -> str:
    """Headings and landmarks of a rendering, nested, each with its ref and its section's size."""
    out: list[str] = []
    open_: list[Entry] = []
    for entry in found.entries:
        while open_ and open_[-1].end <= entry.start:
            open_.pop()
        depth = len(open_)
        label = f"h{entry.level}" if entry.role == "heading" else entry.role
        title = f" {json.dumps(entry.title[:max_title], ensure_ascii=False)}" if entry.title else ""
        out.append(f"{' ' * depth}{label}{title} [{entry.ref}] {found.size(entry):,} chars")
        open_.append(entry)
    return "\n".join(out)


def cut_window(text: str, start: int, budget: int) -> int:
    """Where a window of at most `budget` characters starting at `start` ends (exclusive).

    At the end of a line (its newline stays in the window) whenever a line ends within the budget; a
    line longer than the budget is split after a space, never inside a ref (`[e12]`, `[e12 -> /url]`) or
    a link target (`-> /url`), and only where no space is found is it cut at the budget itself (before
    a ref or target that the budget would split, when one starts inside the window).
    """
    end = start + max(1, budget)
    if end >= len(text):
        return len(text)
    newline = text.rfind("\n", start, end)
    if newline >= start:
        return newline + 1
    line_start = text.rfind("\n", 0, start) + 1
    guarded = [
        match.span()
        for match in _UNSPLIT.finditer(text, line_start, min(len(text), end + URL_CHARS + 64))
        if match.end() > start and match.start() < end
    ]
    space = end
    while True:
        space = text.rfind(" ", start, space)
        if space < start:
            break
        if not any(begin <= space < stop for begin, stop in guarded):
            if space + 1 > start:
                return space + 1
            break
    for begin, stop in guarded:  # no space to split at: cut at the budget, but not inside a ref
        if begin < end < stop and begin > start:
            return begin
    return end


def _abbreviate(line: str, limit: int) -> str:
    body = line.lstrip(" ")
    if len(body) <= limit or _REF_SHOWN.search(body):
        return line
    cut = body.rfind(" ", limit // 2, limit)
    cut = cut if cut > 0 else limit
    return f"{line[: len(line) - len(body) + cut]}...(+{len(body) - cut} chars)"


def _texts(root: Node) -> list[str]:
    """Every name and text under `root`, in document order, without recursion."""
    found: list[str] = []
    stack: list[Node | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(_text(item))
            continue
        if item.name:
            found.append(_text(item.name))
        stack.extend(reversed(item.children))
    return found


def diff_lines(before: str, after: str, max_lines: int = 2000) -> str:
    """The lines that changed between two renderings, as `+ line` / `- line`, or "" when none did.

    Lines the two share at the start and the end are set aside first (a linear scan). What is left is
    compared line by line with difflib when it is small; difflib's cost grows with the product of the two
    sides' lengths (a page of thousands of identical lines took minutes), so above `_DIFF_PRODUCT` the
    lines removed and added are found as multisets instead: still every change, in document order, in
    linear time, only without pairing moved lines.
    """
    old, new = before.splitlines(), after.splitlines()
    start, shortest = 0, min(len(old), len(new))
    while start < shortest and old[start] == new[start]:
        start += 1
    end = 0
    while end < shortest - start and old[-1 - end] == new[-1 - end]:
        end += 1
    old, new = old[start : len(old) - end], new[start : len(new) - end]
    if len(old) * len(new) > _DIFF_PRODUCT:
        return _multiset_diff(old, new, max_lines)
    changed: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        changed.extend(f"- {line}" for line in old[i1:i2])
        changed.extend(f"+ {line}" for line in new[j1:j2])
        if len(changed) > max_lines:
            break
    return "\n".join(changed)


def _multiset_diff(old: list[str], new: list[str], max_lines: int) -> str:
    """Lines of `old` that `new` lacks (`- `) and lines of `new` that `old` lacks (`+ `), counted."""
    unmatched = Counter(new)
    unmatched.subtract(old)
    removed = Counter({line: -n for line, n in unmatched.items() if n < 0})
    added = Counter({line: n for line, n in unmatched.items() if n > 0})
    changed: list[str] = []
    for sign, lines, wanted in (("-", old, removed), ("+", new, added)):
        for line in lines:
            if wanted[line] > 0 and len(changed) <= max_lines:
                wanted[line] -= 1
                changed.append(f"{sign} {line}")
    return "\n".join(changed)
