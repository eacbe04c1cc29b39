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

import contextlib
import difflib
import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["MAX_DEPTH", "Node", "diff_lines", "find_ref", "parse", "refs_in", "render"]

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
_PUNCTUATION_ONLY = re.compile(r"[\W_]{1,3}")
"""Separators between links (a lone "|", "-", ">"): they say nothing a model can use."""
_REF_SHOWN = re.compile(r"\[[a-z]*\d*e\d+\](?=[ :]|$)")


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


def refs_in(root: Node) -> list[str]:
    """Every ref the compact rendering shows, in document order."""
    shown: list[str] = []
    for line in render(root).splitlines():
        shown.extend(match.group(0)[1:-1] for match in _REF_SHOWN.finditer(line))
    return shown


# --- rendering -------------------------------------------------------------------------------------------


def _text(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def _shows_ref(node: Node) -> bool:
    return node.ref is not None and (
        node.role in INTERACTIVE or node.role in SECTIONS or node.attrs.get("cursor") == "pointer"
    )


def _head(node: Node) -> str:
    level = node.attrs.get("level")
    role = f"h{level}" if node.role == "heading" and level else node.role
    parts = [role]
    if node.name:
        parts.append(json.dumps(_text(node.name), ensure_ascii=False))
    for attr in _SHOWN_ATTRS:
        value = node.attrs.get(attr)
        if value is not None and value != "false":
            parts.append(f"[{attr}]" if value == "true" else f"[{attr}={value}]")
    if _shows_ref(node):
        parts.append(f"[{node.ref}]")
    for prop, value in node.props.items():
        if prop == "url":
            parts.append(f"-> {value}")
        else:
            parts.append(f"({prop}: {_text(value)})")
    return " ".join(parts)


def _lift_image_name(node: Node) -> None:
    """An unnamed link or button whose only content is a named image takes the image's name."""
    if node.name or len(node.children) != 1:
        return
    child = node.children[0]
    if isinstance(child, Node) and child.role == "img" and child.name and not child.children:
        node.name = child.name
        node.children = []


def _emit(node: Node, depth: int, out: list[str]) -> None:
    if depth >= MAX_DEPTH:  # deeper levels become one line of their text: no recursion past this
        text = _join(_texts(node))
        if text:
            out.append(" " * depth + text)
        return
    if node.role in ("link", "button"):
        _lift_image_name(node)
    hoist = (node.role in WRAPPERS or node.role == "fragment") and not node.name and not _shows_ref(node)
    if node.role == "img" and not node.name and not node.children:
        return
    if hoist:
        for prop, value in node.props.items():
            out.append(" " * depth + f"({prop}: {_text(value)})")
        _emit_children(node.children, depth, out)
        return
    if node.role == "row" and node.children and all(_is_cell(c) for c in node.children):
        cells = " | ".join(_inline_text(c) for c in node.children)
        ref = f" [{node.ref}]" if _shows_ref(node) else ""
        out.append(" " * depth + f"row{ref}: {cells}")
        return
    head = _head(node)
    if node.children and all(_is_inline(c) for c in node.children):
        text = _join([_inline_text(c) for c in node.children])
        if text and text != _text(node.name):
            head = f"{head}: {text}"
        out.append(" " * depth + head)
        return
    out.append(" " * depth + head)
    _emit_children(node.children, depth + 1, out)


def _is_inline(child: Node | str) -> bool:
    """Plain text, or inline markup holding only text (no ref a tool could use)."""
    if isinstance(child, str):
        return True
    return (
        child.role in INLINE
        and not _shows_ref(child)
        and not child.props
        and all(isinstance(c, str) for c in child.children)
    )


def _is_cell(child: Node | str) -> bool:
    return (
        isinstance(child, Node)
        and child.role in ("cell", "columnheader", "rowheader", "gridcell")
        and not _shows_ref(child)
        and all(_is_inline(c) for c in child.children)
    )


def _inline_text(child: Node | str) -> str:
    if isinstance(child, str):
        return _text(child)
    inner = _join([_inline_text(c) for c in child.children])
    return inner or _text(child.name)


def _join(pieces: list[str]) -> str:
    """Join runs of text with single spaces, none before closing punctuation."""
    out = ""
    for piece in pieces:
        if not piece:
            continue
        if out and piece[0] not in ".,;:!?)]}'\u2019" and not out.endswith(("(", "[", "{")):
            out += " "
        out += piece
    return out


def _emit_children(children: list[Node | str], depth: int, out: list[str]) -> None:
    """Emit children, merging each run of inline text into one line."""
    run: list[str] = []

    def flush() -> None:
        text = _join(run)
        if text and not _PUNCTUATION_ONLY.fullmatch(text):
            out.append(" " * depth + text)
        run.clear()

    for child in children:
        if _is_inline(child):
            run.append(_inline_text(child))
            continue
        flush()
        assert isinstance(child, Node)
        _emit(child, depth, out)
    flush()


def render(root: Node, *, text_limit: int | None = None, prefix: str = "") -> str:
    """The compact text of a tree (or subtree).

    With `text_limit`, a line of running text longer than that is cut at a word boundary and ends with
    `...(+N chars)`; lines that carry a ref are never cut. With `prefix` (see `frame_prefix`), refs of
    the page's own frame are shown without it.
    """
    out: list[str] = []
    _emit(root, 0, out)
    if prefix:
        own = re.compile(rf"\[{re.escape(prefix)}(e\d+)\](?=[ :]|$)")
        out = [own.sub(r"[\1]", line) for line in out]
    if text_limit is not None:
        out = [_abbreviate(line, text_limit) for line in out]
    return "\n".join(out)


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
