"""Everything that walks a tree: name search, content search, and the directory tree.

All walks go through `Roots.walk`, which reopens every directory by descriptor and never follows a
symbolic link, so no link (inside or out) can make a walk leave the allowed directories or loop. Each
walk stops as soon as it has one result more than it can show (that extra result is how it knows to
offer a continuation), and at a deadline, returning what it found with a note.

Every pattern a model sends runs in linear time: content search compiles its regular expression with
RE2 (google-re2: no backtracking, and it releases the GIL while it matches), and a glob with more than
one wildcard run or with `{a,b}` alternatives is matched by RE2 too. A glob with a single `*` run and no
braces cannot backtrack badly and stays on Python's `re`, which is faster for the common `*.py`.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.roots import DirScan, Roots
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.textfiles import SNIFF_BYTES

__all__ = [
    "Glob",
    "GrepResult",
    "NameSearch",
    "SearchPattern",
    "build_tree",
    "compile_regex",
    "grep",
    "search_names",
]

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


def _re2() -> Any:
    """The `re2` module (google-re2), imported when a pattern first needs it."""
    import re2

    return re2


def re2_options(*, case_sensitive: bool = True, literal: bool = False, one_line: bool = False) -> Any:
    """RE2 options: errors are returned, not logged; `one_line` keeps every match within one line."""
    options = _re2().Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    options.literal = literal
    options.never_nl = one_line
    options.dot_nl = not one_line
    return options


def _needs_re2(glob: str) -> bool:
    """Whether Python's backtracking `re` could take more than linear time on this glob's translation.

    One run of `*` (or `**`) and no `{` alternatives backtrack at most name length times pattern length,
    which a short pattern keeps small; anything else goes to RE2.
    """
    runs = len([run for run in re.split(r"[^*]+", glob) if run])  # `**` is one run, like `*`
    return runs > 1 or "{" in glob or len(glob) > 256


class _Re2Full:
    """An RE2 pattern used as a whole-string matcher of names (`fullmatch`), on their UTF-8 bytes."""

    def __init__(self, pattern: str) -> None:
        self._regex = _re2().compile(pattern, re2_options())

    def match(self, text: str) -> bool:
        return self._regex.fullmatch(text.encode("utf-8", "surrogateescape")) is not None


@dataclass(frozen=True)
class Glob:
    """A glob matched against a path relative to the search directory, or a bare name at any depth.

    A pattern without `/` (`*.py`, `.env`) matches an entry's name anywhere in the tree; a pattern with
    `/` (`src/**/*.ts`) matches the whole relative path. Matching takes time linear in the name.
    """

    pattern: str
    matcher: Callable[[str], bool]
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
        body = text.rstrip("/")
        if len(body) > 4096:
            raise UserError("The glob pattern is longer than 4096 characters.", hint="Give a shorter one.")
        translated = _translate(body)
        try:
            if _needs_re2(body):
                matcher: Callable[[str], bool] = _Re2Full(translated).match
            else:
                regex = re.compile(translated + r"\Z", re.DOTALL)
                matcher = lambda name: regex.match(name) is not None  # noqa: E731
        except (re.error, _re2().error) as exc:
            raise UserError(f"The glob pattern {pattern!r} is malformed: {_reason(exc)}.") from None
        return cls(pattern, matcher, "/" not in body)

    def matches(self, rel: str, name: str) -> bool:
        """Whether the entry at `rel` (relative path) named `name` matches."""
        return self.matcher(name if self.by_name else rel)


def _reason(exc: BaseException) -> str:
    """An error's text (RE2 gives it as bytes)."""
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


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


_UNSUPPORTED = (
    (re.compile(r"\\[1-9]|\\g<|\(\?P="), "backreferences (\\1, (?P=name))"),
    (re.compile(r"\(\?<?[=!]"), "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...))"),
    (re.compile(r"\(\?>"), "atomic groups ((?>...))"),
    (re.compile(r"\(\?\("), "conditionals ((?(1)...))"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive quantifiers (*+, ++, ?+)"),
    (re.compile(r"\\Z"), "\\Z (write \\z, or $ for the end of a line)"),
)


_TEXT_ENDS = re.compile(r"\\[Az]|\(\?[a-zA-Z]*-")


class SearchPattern:
    """A content search pattern, compiled with RE2: matching takes time linear in the text.

    Each line is matched on its own (`^` and `$` are the line's ends, and no match spans lines).
    """

    def __init__(self, pattern: str, *, literal: bool, case_sensitive: bool) -> None:
        options = re2_options(case_sensitive=case_sensitive, literal=literal, one_line=True)
        self.pattern = pattern
        self._regex = _re2().compile(pattern if literal else f"(?m){pattern}", options)
        needle = pattern.encode("utf-8", "surrogateescape")
        # A case-sensitive literal without a newline is found by bytes.find exactly as RE2 would find it.
        self._needle = needle if literal and case_sensitive and b"\n" not in needle else None
        # Files joined with newlines can be searched at once unless the pattern sees the text's own
        # ends (\A, \z, or ^ and $ with the m flag turned off): those would match only at the batch's.
        self.batchable = literal or not _TEXT_ENDS.search(pattern)

    def first_match(self, data: bytes, pos: int) -> int | None:
        """Where the first match at or after `pos` starts, or None."""
        if self._needle is not None:
            at = data.find(self._needle, pos)
            return None if at == -1 else at
        found = self._regex.search(data, pos)
        return None if found is None else found.start()

    def search(self, text: str | bytes) -> bool:
        """Whether `text` holds a match."""
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        return self._regex.search(data) is not None

    def matching_lines(self, data: bytes) -> Iterator[tuple[int, int, int]]:
        """`(index, start, end)` of each line of `data` that matches: its 0-based number and byte span.

        One pass over `data`: after a match the search goes on from the next line.
        """
        size = len(data)
        pos = counted_to = number = 0
        while pos < size:
            found = self._regex.search(data, pos)
            if found is None:
                return
            start = found.start()
            if start == size and data.endswith(b"\n"):
                return  # an empty match after the last line's newline: not a line
            line_start = data.rfind(b"\n", 0, start) + 1
            line_end = data.find(b"\n", start)
            if line_end == -1:
                line_end = size
            number += data.count(b"\n", counted_to, line_start)
            counted_to = line_start
            yield number, line_start, line_end
            pos = line_end + 1


def compile_regex(pattern: str, *, literal: bool, case_sensitive: bool | None) -> SearchPattern:
    """The search pattern (RE2 syntax); case-insensitive when asked, or when it has no upper-case letter.

    Raises:
        UserError: the pattern is empty or invalid, or uses a feature RE2 does not have (backreferences,
            lookaround, ...): the text names the feature.
    """
    if not pattern:
        raise UserError("The search pattern is empty.", hint="Give the text or regular expression to find.")
    sensitive = case_sensitive if case_sensitive is not None else any(c.isupper() for c in pattern)
    try:
        return SearchPattern(pattern, literal=literal, case_sensitive=sensitive)
    except _re2().error as exc:
        for feature, name in _UNSUPPORTED:
            if feature.search(pattern):
                raise UserError(
                    f"The regular expression {pattern!r} uses {name}, which this server does not support: "
                    "patterns use RE2 syntax, which matches in linear time and so has no backtracking "
                    "features.",
                    hint="Rewrite the pattern without it (e.g. search for a simpler pattern and read the "
                    "lines), or pass literal=true to search for the text as written.",
                ) from None
        raise UserError(
            f"The regular expression {pattern!r} is not valid: {_reason(exc)}.",
            hint="Fix the expression (RE2 syntax), or pass literal=true to search for the text as written.",
        ) from None


class _Ignores:
    """The .gitignore files met on the way down, applied to the paths below them (git's own rules)."""

    def __init__(self) -> None:
        self._by_dir: dict[str, list[tuple[str, Any]]] = {}

    def enter(self, scan: DirScan) -> list[tuple[str, Any]]:
        parent = scan.rel.rsplit("/", 1)[0] if "/" in scan.rel else ""
        inherited = self._by_dir.get(parent, []) if scan.rel else []
        own = inherited
        if (".gitignore", "file") in scan.entries:
            try:
                with scan.open_file(".gitignore") as handle:
                    lines = handle.read(1 << 20).decode("utf-8", "replace").splitlines()
            except (OSError, UserError):
                lines = []
            if lines:
                import pathspec

                # RE2 matches in linear time: a .gitignore is content anyone (a model too) may write.
                spec = pathspec.GitIgnoreSpec.from_lines(lines, backend="re2")
                own = [*inherited, (scan.rel, spec)]
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
    regex: SearchPattern,
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
    """Lines matching `regex` in the text files under `path`, grouped by file with `context` lines.

    Files are read a batch at a time (`_BATCH_BYTES`, or one file when it is larger) and each batch is
    searched with one RE2 call; only a file the batch search finds a match in is searched line by line.
    Memory holds one batch and the rows shown; the clock is checked before every batch and every few
    thousand matches, so the search stops near its deadline whatever it meets.
    """
    includes = [Glob.compile(p) for p in include]
    excluded = _any([Glob.compile(p) for p in exclude]) if exclude else None
    clock = _Clock(seconds)
    ignores = _Ignores()
    skip_dirs: set[str] = set()
    result = GrepResult(next_offset=offset)
    state = _GrepState(regex, result, context, offset, limit, max_chars, max_line_chars)
    batch = _Batch()

    def descend(rel: str, depth: int) -> bool:
        return rel not in skip_dirs

    for scan in roots.walk(path, descend=descend):
        if clock.check():
            return state.stop(timed_out=True)
        specs = ignores.enter(scan) if respect_gitignore else []
        base = scan.path.rstrip("/")
        filtered = excluded is not None or specs or not policy.empty or includes
        names: list[str] = []
        for name, kind in scan.entries:
            if kind == "file":
                if filtered:
                    rel = f"{scan.rel}/{name}" if scan.rel else name
                    if (
                        (excluded is not None and excluded(rel, name))
                        or (specs and ignores.ignored(specs, rel, False))
                        or (not policy.empty and policy.hidden(f"{base}/{name}", False))
                        or (includes and not any(g.matches(rel, name) for g in includes))
                    ):
                        continue
                names.append(name)
            elif kind == "directory":
                rel = f"{scan.rel}/{name}" if scan.rel else name
                if (
                    (excluded is not None and excluded(rel, name))
                    or (respect_gitignore and name == ".git")
                    or (specs and ignores.ignored(specs, rel, True))
                    or (not policy.empty and policy.hidden(f"{base}/{name}", True))
                ):
                    skip_dirs.add(rel)
        at = 0
        while at < len(names):
            at = batch.fill(scan.fd, base, names, at, max_file_bytes)
            if batch.full:
                if state.search(batch, clock):
                    return result
                batch = _Batch()
                if clock.check():
                    return state.stop(timed_out=True)
    if batch.paths:
        state.search(batch, clock)
    return result


_BATCH_BYTES = 1 << 20  # bytes of files read before one RE2 call searches them all
_BATCH_FILES = 512
# getattr: the names are POSIX-only, and the module must import on Windows (where Roots refuses to start)
_OPEN_FLAGS = os.O_RDONLY
for _flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"):
    _OPEN_FLAGS |= getattr(os, _flag, 0)
_LARGE = b"L"  # `_read_file` results that are not content: too large, binary, unreadable
_BINARY = b"B"
_UNREADABLE = b"U"
_FIRST_READ = 1 << 16  # one read takes a file this small whole (the bytes object is shrunk to fit)


def _read_file(dir_fd: int, name: str, max_bytes: int) -> bytes | tuple[bytes]:
    """The bytes of the regular file `name` in the open directory `dir_fd` (CRLF read as LF), or why not.

    Three system calls for a file that fits in one read, as ripgrep makes: `openat` relative to the
    walk's directory descriptor with `O_NOFOLLOW` (a link is never followed; `O_NONBLOCK`, so a FIFO
    swapped in after the listing cannot block), one `read`, `close`. A file that fills the first read is
    measured with `fstat` (anything but a regular file is refused) and read on up to `max_bytes`. A
    directory swapped in fails its read. A reason comes back as a one-element tuple.
    """
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError:
        return (_UNREADABLE,)
    try:
        first = _FIRST_READ if max_bytes >= _FIRST_READ else max_bytes + 1
        data = os.read(fd, first)
        if len(data) == first:  # more may follow: the file's own size decides
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return (_UNREADABLE,)
            if info.st_size > max_bytes:
                return (_LARGE,)
            parts = [data]
            got = len(data)
            while got <= max_bytes:  # read to the end (it may have grown since fstat), up to the limit
                more = os.read(fd, min(max(info.st_size + 1 - got, _FIRST_READ), max_bytes + 1 - got))
                if not more:
                    break
                parts.append(more)
                got += len(more)
            if got > max_bytes:
                return (_LARGE,)
            data = b"".join(parts)
    except OSError:
        return (_UNREADABLE,)
    finally:
        os.close(fd)
    if b"\x00" in data[:SNIFF_BYTES]:
        return (_BINARY,)
    return data.replace(b"\r\n", b"\n") if b"\r" in data else data


class _Batch:
    """Files read and not yet searched: their paths, and their text joined so one RE2 call covers all.

    A file whose text does not end with a newline gets one after it, so no line runs into the next
    file's; `starts[i]` is where file i's text begins. Files that are not searched (binary, too large,
    unreadable) keep their reason and add no text.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.items: list[bytes | tuple[bytes]] = []
        self.chunks: list[bytes] = []
        self.starts: list[int] = []
        self.size = 0

    @property
    def full(self) -> bool:
        """Whether the batch should be searched before more files are read into it."""
        return self.size >= _BATCH_BYTES or len(self.paths) >= _BATCH_FILES

    def fill(self, dir_fd: int, base: str, names: list[str], at: int, max_bytes: int) -> int:
        """Read `names[at:]` from the directory open as `dir_fd` until the batch is full.

        `base` is the directory's path; the index of the first name not read comes back.
        """
        paths, items, chunks, starts = self.paths, self.items, self.chunks, self.starts
        size, room, count = self.size, _BATCH_FILES - len(paths), len(names)
        stop = min(count, at + room)
        while at < stop and size < _BATCH_BYTES:
            name = names[at]
            at += 1
            data = _read_file(dir_fd, name, max_bytes)
            paths.append(f"{base}/{name}")
            items.append(data)
            starts.append(size)
            if type(data) is bytes and data:
                chunks.append(data)
                size += len(data)
                if data[-1] != 10:  # no newline at the end: one keeps the next file's first line apart
                    chunks.append(b"\n")
                    size += 1
        self.size = size
        return at


class _GrepState:
    """The matches shown so far and the rules for adding more (offset, limit, character budget)."""

    def __init__(
        self,
        regex: SearchPattern,
        result: GrepResult,
        context: int,
        offset: int,
        limit: int,
        max_chars: int,
        max_line_chars: int,
    ) -> None:
        self.regex = regex
        self.result = result
        self.context = context
        self.offset = offset
        self.limit = limit
        self.max_chars = max_chars
        self.max_line_chars = max_line_chars
        self.seen = 0  # matching lines met so far, shown or skipped
        self.used = 0

    def stop(self, block: _Block | None = None, *, more: bool = False, timed_out: bool = False) -> GrepResult:
        result = self.result
        if block is not None and block.hits:
            result.blocks.append(block.finish())
        result.more = result.more or more
        result.timed_out = result.timed_out or timed_out
        return result

    def search(self, batch: _Batch, clock: _Clock) -> bool:
        """Search the batch's files in order; True when the search must stop (limit, budget, deadline)."""
        joined = b"".join(batch.chunks)
        count = len(batch.paths)
        starts = batch.starts
        hit = self.regex.first_match(joined, 0) if self.regex.batchable else 0
        index = 0
        while index < count:
            # Files before the one holding the next batch match have none: count them and move on.
            upto = count if hit is None else bisect.bisect_right(starts, hit, index) - 1
            if not self.regex.batchable:
                upto = index
            for skipped in range(index, max(index, upto)):
                self._count(batch.items[skipped])
            index = max(index, upto)
            if index >= count:
                break
            item = batch.items[index]
            self._count(item)
            if isinstance(item, bytes) and item and self._file(batch.paths[index], item, clock):
                return True
            index += 1
            if self.regex.batchable and index < count:
                hit = self.regex.first_match(joined, starts[index])
        return False

    def _count(self, item: bytes | tuple[bytes]) -> None:
        result = self.result
        if isinstance(item, bytes):
            result.files_searched += 1
        elif item[0] is _LARGE:
            result.files_searched += 1
            result.skipped_large += 1
        elif item[0] is _BINARY:
            result.files_searched += 1
            result.skipped_binary += 1

    def _file(self, path: str, data: bytes, clock: _Clock) -> bool:
        """Add one file's matching lines; True when the search must stop."""
        result = self.result
        block = _Block(path, data, self.context, self.max_line_chars)
        for number, start, end in self.regex.matching_lines(data):
            self.seen += 1
            if not self.seen & 0xFFF and clock.check():
                self.stop(block, timed_out=True)
                return True
            if self.seen <= self.offset:
                continue
            if result.matches >= self.limit:
                self.stop(block, more=True)
                return True
            rows = block.rows_for(number, start, end)
            cost = sum(len(row) + 1 for row in rows) + (0 if block.hits else len(block.path) + 1)
            if self.used + cost > self.max_chars and result.matches:
                self.stop(block, more=True)
                return True
            block.add(rows, number, end)
            self.used += cost
            result.matches += 1
            result.next_offset = self.seen
        if block.hits:
            result.blocks.append(block.finish())
        return False


class _Block:
    """One file's matching lines as `N: line` rows (and `N- line` context rows), grown one hit at a time.

    Context lines are found by walking to neighbouring newlines from the hit, so nothing splits the
    whole file into lines.
    """

    def __init__(self, path: str, data: bytes, context: int, max_line_chars: int) -> None:
        self.path = path
        self.data = data
        self.context = context
        self.max_line_chars = max_line_chars
        self.rows: list[str] = [path]
        self.hits = 0
        self.last = -1  # the index of the last line shown
        self.last_end = -1  # where that line ends (its newline, or the end of the data)
        self.owed = 0  # context lines still to show after the last hit

    def _text(self, start: int, end: int) -> str:
        line = self.data[start:end].decode("utf-8", "replace").rstrip("\r")
        if len(line) > self.max_line_chars:
            return line[: self.max_line_chars] + f"... [{len(line) - self.max_line_chars} more characters]"
        return line

    def _after(self, up_to: int) -> list[str]:
        """The owed context rows after the last hit, stopping before line `up_to`."""
        rows, index, end = [], self.last, self.last_end
        for _ in range(self.owed):
            if index + 1 >= up_to or end >= len(self.data):
                break
            start = end + 1
            end = self.data.find(b"\n", start)
            end = len(self.data) if end == -1 else end
            if start == len(self.data):
                break
            index += 1
            rows.append(f"  {index + 1}- {self._text(start, end)}")
        return rows

    def rows_for(self, number: int, start: int, end: int) -> list[str]:
        """The rows showing the hit on line `number` (0-based): owed context, `--`, context, the hit."""
        rows = self._after(number) if self.hits else []
        shown_to = self.last + len(rows)
        first = max(shown_to + 1, number - self.context)
        if self.hits and first > shown_to + 1:
            rows.append("  --")
        before: list[str] = []
        line_start, index = start, number
        while index > first:
            line_end = line_start - 1
            line_start = self.data.rfind(b"\n", 0, line_end) + 1
            index -= 1
            before.append(f"  {index + 1}- {self._text(line_start, line_end)}")
        rows.extend(reversed(before))
        rows.append(f"  {number + 1}: {self._text(start, end)}")
        return rows

    def add(self, rows: list[str], number: int, end: int) -> None:
        """Keep the rows of a hit (from `rows_for`) and owe the context after it."""
        self.rows.extend(rows)
        self.hits += 1
        self.last, self.last_end, self.owed = number, end, self.context

    def finish(self) -> str:
        """The block's text, with the context owed after its last hit."""
        self.rows.extend(self._after(1 << 62))
        self.owed = 0
        return "\n".join(self.rows)


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
