"""Everything that walks a tree: name search, content search, and the directory tree.

All walks go through `Roots.walk`, which reopens every directory by descriptor and never follows a
symbolic link, so no link (inside or out) can make a walk leave the allowed directories or loop. Each
walk stops as soon as it has one result more than it can show (that extra result is how it knows to
offer a continuation), and at a deadline, returning what it found with a note.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.roots import DirScan, Roots
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.textfiles import SNIFF_BYTES

__all__ = ["Glob", "GrepResult", "NameSearch", "build_tree", "grep", "search_names"]

Matcher = Callable[[str, str], bool]


# --- globs ----------------------------------------------------------------------------------------------


def _translate(pattern: str) -> str:
    """A glob as a regex: `**` spans directories, `*` and `?` stay within one; `{a,b}` and `[..]` work."""
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    while i < n:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                at_start = i == 0 or pattern[i - 1] == "/"
                after = i + 2
                if at_start and after < n and pattern[after] == "/":
                    out.append("(?:.*/)?")
                    i = after + 1
                    continue
                out.append(".*")
                i = after
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find(
                "]", i + 2 if pattern.startswith("[!", i) or pattern.startswith("[^", i) else i + 1
            )
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end + 1
                continue
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    out.extend(")" * depth)
    return "".join(out)


@dataclass(frozen=True)
class Glob:
    """A glob matched against a path relative to the search directory, or a bare name at any depth.

    A pattern without `/` (`*.py`, `.env`) matches an entry's name anywhere in the tree; a pattern with
    `/` (`src/**/*.ts`) matches the whole relative path.
    """

    pattern: str
    regex: re.Pattern[str]
    by_name: bool

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        """Compile `pattern`; raise `UserError` when it is empty or malformed."""
        text = pattern.strip()
        while text.startswith("./"):
            text = text[2:]
        text = text.lstrip("/")
        if not text:
            raise UserError("The glob pattern is empty.", hint="Give a pattern such as *.py or src/**/*.ts.")
        try:
            regex = re.compile(_translate(text.rstrip("/")) + r"\Z", re.DOTALL)
        except re.error as exc:
            raise UserError(f"The glob pattern {pattern!r} is malformed: {exc}.") from None
        return cls(pattern, regex, "/" not in text.rstrip("/"))

    def matches(self, rel: str, name: str) -> bool:
        """Whether the entry at `rel` (relative path) named `name` matches."""
        return self.regex.match(name if self.by_name else rel) is not None


def _any(globs: Sequence[Glob]) -> Matcher:
    if not globs:
        return lambda rel, name: False
    return lambda rel, name: any(g.matches(rel, name) for g in globs)


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class _Clock:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = False

    def check(self) -> bool:
        if not self.expired and time.monotonic() > self.deadline:
            self.expired = True
        return self.expired


# --- name search ----------------------------------------------------------------------------------------


@dataclass
class NameSearch:
    """Paths whose names match, whether more exist, and whether the walk ran out of time."""

    paths: list[str] = field(default_factory=list)
    more: bool = False
    timed_out: bool = False


def search_names(
    roots: Roots,
    path: str,
    pattern: str,
    *,
    exclude: Sequence[str] = (),
    policy: Policy,
    offset: int = 0,
    limit: int = 200,
    seconds: float = 30.0,
) -> NameSearch:
    """Canonical paths under `path` whose name (or relative path) matches `pattern`, in walk order."""
    glob = Glob.compile(pattern)
    excluded = _any([Glob.compile(p) for p in exclude])
    clock = _Clock(seconds)
    result = NameSearch()
    found = 0
    top = [""]

    def descend(rel: str, depth: int) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return not excluded(rel, name) and not policy.hidden(f"{top[0]}/{rel}", True)

    for scan in roots.walk(path, descend=descend):
        if scan.depth == 0:
            top[0] = scan.path.rstrip("/")
        if clock.check():
            result.timed_out = True
            break
        for name, kind in scan.entries:
            rel = _join(scan.rel, name)
            if excluded(rel, name) or not glob.matches(rel, name):
                continue
            full = f"{scan.path.rstrip('/')}/{name}"
            if not policy.empty and policy.hidden(full, kind == "directory"):
                continue
            found += 1
            if found <= offset:
                continue
            if len(result.paths) >= limit:
                result.more = True
                return result
            result.paths.append(full + ("/" if kind == "directory" else ""))
    return result


# --- content search -------------------------------------------------------------------------------------


@dataclass
class GrepResult:
    """Matching lines grouped by file, and what the search skipped or left for a next call."""

    blocks: list[str] = field(default_factory=list)
    matches: int = 0
    more: bool = False
    next_offset: int = 0
    files_searched: int = 0
    skipped_large: int = 0
    skipped_binary: int = 0
    timed_out: bool = False


def compile_regex(pattern: str, *, literal: bool, case_sensitive: bool | None) -> re.Pattern[str]:
    """The search pattern as a regex; case-insensitive when asked, or when it has no upper-case letter."""
    if not pattern:
        raise UserError("The search pattern is empty.", hint="Give the text or regular expression to find.")
    sensitive = case_sensitive if case_sensitive is not None else any(c.isupper() for c in pattern)
    flags = 0 if sensitive else re.IGNORECASE
    try:
        return re.compile(re.escape(pattern) if literal else pattern, flags)
    except re.error as exc:
        raise UserError(
            f"The regular expression {pattern!r} is not valid: {exc}.",
            hint="Fix the expression, or pass literal=true to search for the text as written.",
        ) from None


class _Ignores:
    """The .gitignore files met on the way down, applied to the paths below them (git's own rules)."""

    def __init__(self) -> None:
        self._by_dir: dict[str, list[tuple[str, Any]]] = {}

    def enter(self, scan: DirScan) -> list[tuple[str, Any]]:
        parent = scan.rel.rsplit("/", 1)[0] if "/" in scan.rel else ""
        inherited = self._by_dir.get(parent, []) if scan.rel else []
        own = inherited
        if any(name == ".gitignore" and kind == "file" for name, kind in scan.entries):
            try:
                with scan.open_file(".gitignore") as handle:
                    lines = handle.read(1 << 20).decode("utf-8", "replace").splitlines()
            except (OSError, UserError):
                lines = []
            if lines:
                import pathspec

                own = [*inherited, (scan.rel, pathspec.GitIgnoreSpec.from_lines(lines))]
        self._by_dir[scan.rel] = own
        return own

    @staticmethod
    def ignored(specs: list[tuple[str, Any]], rel: str, is_dir: bool) -> bool:
        for base, spec in specs:
            sub = rel[len(base) + 1 :] if base else rel
            if spec.match_file(sub + "/" if is_dir else sub):
                return True
        return False


def grep(
    roots: Roots,
    path: str,
    regex: re.Pattern[str],
    *,
    policy: Policy,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
    context: int = 0,
    offset: int = 0,
    limit: int = 100,
    max_chars: int = 25_000,
    max_file_bytes: int = 10 * 1024 * 1024,
    max_line_chars: int = 300,
    seconds: float = 30.0,
) -> GrepResult:
    """Lines matching `regex` in the text files under `path`, grouped by file with `context` lines."""
    includes = [Glob.compile(p) for p in include]
    excluded = _any([Glob.compile(p) for p in exclude])
    clock = _Clock(seconds)
    ignores = _Ignores()
    skip_dirs: set[str] = set()
    result = GrepResult(next_offset=offset)
    seen = 0
    used = 0

    def descend(rel: str, depth: int) -> bool:
        return rel not in skip_dirs

    for scan in roots.walk(path, descend=descend):
        if clock.check():
            result.timed_out = True
            break
        specs = ignores.enter(scan) if respect_gitignore else []
        base = scan.path.rstrip("/")
        for name, kind in scan.entries:
            rel = _join(scan.rel, name)
            is_dir = kind == "directory"
            if (
                excluded(rel, name)
                or (
                    respect_gitignore and ((is_dir and name == ".git") or ignores.ignored(specs, rel, is_dir))
                )
                or (not policy.empty and policy.hidden(f"{base}/{name}", is_dir))
            ):
                if is_dir:
                    skip_dirs.add(rel)
                continue
            if kind != "file" or (includes and not any(g.matches(rel, name) for g in includes)):
                continue
            text = _read_text(scan, name, max_file_bytes, result)
            if text is None or regex.search(text) is None:
                continue
            lines = text.splitlines()
            hits = [i for i, line in enumerate(lines) if regex.search(line)]
            if seen + len(hits) <= offset:
                seen += len(hits)
                continue
            if seen < offset:
                hits = hits[offset - seen :]
                seen = offset
            room = limit - result.matches
            if room <= 0 or used >= max_chars:
                result.more = True
                return result
            shown = hits[:room]
            block = _format_block(f"{base}/{name}", lines, shown, context, max_line_chars)
            if used + len(block) > max_chars and result.blocks:
                result.more = True
                return result
            result.blocks.append(block)
            used += len(block)
            result.matches += len(shown)
            seen += len(shown)
            result.next_offset = seen
            if len(shown) < len(hits):
                result.more = True
                return result
    return result


def _read_text(scan: DirScan, name: str, max_bytes: int, result: GrepResult) -> str | None:
    try:
        with scan.open_file(name) as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, UserError):
        return None
    result.files_searched += 1
    if len(data) > max_bytes:
        result.skipped_large += 1
        return None
    if b"\x00" in data[:SNIFF_BYTES]:
        result.skipped_binary += 1
        return None
    return data.decode("utf-8", "replace")


def _format_block(path: str, lines: list[str], hits: list[int], context: int, max_line_chars: int) -> str:
    """One file's matches: its path, then `N: line` (match) or `N- line` (context), `--` between gaps."""
    wanted: dict[int, bool] = {}
    for hit in hits:
        for index in range(max(0, hit - context), min(len(lines), hit + context + 1)):
            wanted.setdefault(index, False)
        wanted[hit] = True
    out = [path]
    previous = None
    for index in sorted(wanted):
        if previous is not None and index != previous + 1:
            out.append("  --")
        line = lines[index]
        if len(line) > max_line_chars:
            line = line[:max_line_chars] + f"... [{len(line) - max_line_chars} more characters]"
        out.append(f"  {index + 1}{':' if wanted[index] else '-'} {line}")
        previous = index
    return "\n".join(out)


# --- directory tree -------------------------------------------------------------------------------------


@dataclass
class Tree:
    """The tree as JSON-ready nodes, how many entries it holds, and whether some were left out."""

    nodes: list[dict[str, Any]]
    entries: int
    truncated: bool
    timed_out: bool

    def to_json(self) -> str:
        """Compact JSON (no indentation: the structure is in the brackets)."""
        return json.dumps(self.nodes, ensure_ascii=False, separators=(",", ":"))


def build_tree(
    roots: Roots,
    path: str,
    *,
    policy: Policy,
    exclude: Sequence[str] = (),
    max_depth: int | None = None,
    max_chars: int = 25_000,
    seconds: float = 30.0,
) -> Tree:
    """The entries under `path` as nested `{name, type, children}` nodes, filled level by level.

    Walking breadth-first means a cut tree is complete near the top: directories the budget did not
    reach carry `"truncated": true` and no children.
    """
    excluded = _any([Glob.compile(p) for p in exclude])
    clock = _Clock(seconds)
    top: dict[str, Any] = {"children": []}
    dirs: dict[str, dict[str, Any]] = {"": top}
    scanned: set[str] = set()
    used = 0
    entries = 0
    truncated = False
    base = [""]

    def descend(rel: str, depth: int) -> bool:
        return rel in dirs

    for scan in roots.walk(path, descend=descend, max_depth=max_depth, breadth_first=True):
        if scan.depth == 0:
            base[0] = scan.path.rstrip("/")
        if clock.check():
            break
        node = dirs[scan.rel]
        scanned.add(scan.rel)
        here = f"{base[0]}/{scan.rel}" if scan.rel else base[0]
        for name, kind in scan.entries:
            rel = _join(scan.rel, name)
            is_dir = kind == "directory"
            if excluded(rel, name) or (not policy.empty and policy.hidden(f"{here}/{name}", is_dir)):
                continue
            cost = 22 + len(name) + len(kind) + (17 if is_dir else 0)  # its JSON, "truncated" included
            if used + cost > max_chars:
                node["truncated"] = True
                truncated = True
                break
            child: dict[str, Any] = {"name": name, "type": kind}
            if is_dir:
                child["children"] = []
                dirs[rel] = child
            node["children"].append(child)
            used += cost
            entries += 1
        if truncated:
            break
    depth_limited = max_depth is not None
    for rel, node in dirs.items():
        if rel not in scanned:
            node.pop("children", None)
            if truncated or clock.expired or not depth_limited:
                node["truncated"] = True
    return Tree(top["children"], entries, truncated, clock.expired)
