"""Text files: encoding and binary detection, line windows that never read a whole large file, and edits.

Reads work on an open binary handle (from the roots module), so this module never sees a model's path.
A window from the start streams lines until it has enough; a tail seeks to the end and reads backwards in
blocks, so the last lines of a multi-gigabyte file cost a few kilobytes of I/O.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from patchbay_common.errors import UserError

__all__ = [
    "Edit",
    "TextWindow",
    "apply_edits",
    "decode",
    "encode",
    "fenced_diff",
    "read_head",
    "read_tail",
    "sniff_encoding",
]

SNIFF_BYTES = 8192
_TAIL_BLOCK = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class BinaryFile(UserError):
    """The file holds binary data, not text."""


def sniff_encoding(sample: bytes, requested: str | None, shown: str) -> str:
    """The encoding to read a file with, from its first bytes: a BOM, the caller's choice, or UTF-8.

    Raises:
        BinaryFile: no BOM, no encoding requested, and the sample holds NUL bytes.
        UserError: the requested encoding is unknown.
    """
    if requested:
        try:
            return codecs.lookup(requested).name
        except LookupError:
            raise UserError(
                f"Unknown encoding {requested!r}.",
                hint="Use a Python codec name such as utf-8, latin-1, cp1252, utf-16 or shift_jis.",
            ) from None
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample:
        raise BinaryFile(
            f"{shown} looks like a binary file (it contains NUL bytes), not text.",
            hint="Read images and audio with read_media_file; get_file_info shows its size and type.",
        )
    return "utf-8"


def _decode_error(shown: str, encoding: str, where: str) -> UserError:
    return UserError(
        f"{shown} is not valid {encoding} text ({where}).",
        hint="Pass encoding (for example latin-1, cp1252 or utf-16) to read it as another encoding, "
        "or read_media_file if it is binary.",
    )


def decode(data: bytes, requested: str | None, shown: str) -> tuple[str, str]:
    """Decode a whole file; return the text and the encoding used (to write it back the same way)."""
    encoding = sniff_encoding(data[:SNIFF_BYTES], requested, shown)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _decode_error(shown, encoding, f"bad byte at offset {exc.start}, line {line}") from None


def encode(text: str, encoding: str) -> bytes:
    """Encode text the way `decode` found it (a BOM is written back when there was one)."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise UserError(
            f"The new text has characters that {encoding} cannot hold ({exc.object[exc.start : exc.end]!r}).",
            hint="Use characters the file's encoding supports.",
        ) from None


@dataclass(frozen=True)
class TextWindow:
    """Some lines of a file: their text, 1-based first/last line numbers, and what remains."""

    lines: list[str]
    first: int
    truncated: bool  # stopped by the character budget (more lines follow)
    more: bool  # lines remain after this window (budget or limit)
    cut_line: bool = False  # the only line was longer than the budget and was cut

    @property
    def last(self) -> int:
        """The line number of the last line shown (first - 1 when none)."""
        return self.first + len(self.lines) - 1

    def render(self, line_numbers: bool) -> str:
        """The lines, numbered when asked, with a marker saying how to continue when cut."""
        if line_numbers and self.first == 0:  # a tail of a long file: numbered from the end, -1 is last
            count = len(self.lines)
            body = "".join(f"{i - count:>6}\t{line}" for i, line in enumerate(self.lines))
        elif line_numbers:
            body = "".join(f"{self.first + i:>6}\t{line}" for i, line in enumerate(self.lines))
        else:
            body = "".join(self.lines)
        if self.cut_line:
            return (
                f"{body}\n[truncated: line {self.first} is longer than the output limit and was cut; "
                f"call again with offset={self.first + 1} to read the lines after it]"
            )
        if self.truncated:
            end = "" if body.endswith("\n") else "\n"
            return (
                f"{body}{end}[truncated: showing lines {self.first}-{self.last}; "
                f"call again with offset={self.last + 1} to read on]"
            )
        return body


def _fit(lines: list[str], first: int, max_chars: int, more: bool) -> TextWindow:
    """Keep the lines that fit in `max_chars` (numbering and markers have their own slack)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = len(line) + 8
        if used + cost > max_chars:
            if not kept:
                return TextWindow([line[: max(1, max_chars - 200)]], first, True, True, cut_line=True)
            return TextWindow(kept, first, True, True)
        kept.append(line)
        used += cost
    return TextWindow(kept, first, False, more)


def read_head(
    handle: BinaryIO,
    *,
    offset: int,
    limit: int | None,
    max_chars: int,
    encoding: str | None,
    shown: str,
) -> TextWindow:
    """Lines `offset` (1-based) onwards, at most `limit` of them, streaming from the start of the file."""
    sample = handle.read(SNIFF_BYTES)
    handle.seek(0)
    name = sniff_encoding(sample, encoding, shown)
    reader: io.TextIOBase
    if len(sample) < SNIFF_BYTES:  # the whole file is in hand: decode it at once (same line rules)
        text, _ = decode(sample, name, shown)
        reader = io.StringIO(text, newline="")
    else:
        reader = io.TextIOWrapper(handle, encoding=name, errors="strict", newline="")
    number = 0
    wanted: list[str] = []
    budget = max_chars
    more = False
    piece = max_chars + 1  # never hold more than this of one line: a file may be one endless line

    def skip_rest_of_line() -> None:
        while True:
            rest = reader.readline(1 << 16)
            if not rest or rest[-1] in "\r\n":
                return

    try:
        while True:
            line = reader.readline(piece)
            if not line:
                break
            number += 1
            overlong = len(line) == piece and line[-1] not in "\r\n"
            if number < offset:
                if overlong:
                    skip_rest_of_line()
                continue
            if (limit is not None and len(wanted) >= limit) or budget < 0:
                more = True
                break
            wanted.append(line)
            budget -= len(line) + 8
            if overlong:
                budget = -1  # this window ends with (a cut of) this line
    except UnicodeDecodeError:
        raise _decode_error(shown, name, f"near line {number + 1}") from None
    finally:
        if isinstance(reader, io.TextIOWrapper):
            reader.detach()
    if offset > 1 and number < offset:
        raise UserError(
            f"offset {offset} is past the end of {shown}, which has {number} lines.",
            hint="There is nothing more to read.",
        )
    return _fit(wanted, offset, max_chars, more)


def read_tail(
    handle: BinaryIO, *, count: int, max_chars: int, encoding: str | None, shown: str
) -> TextWindow:
    """The last `count` lines, read backwards from the end in blocks (the file's size does not matter)."""
    sample = handle.read(SNIFF_BYTES)
    name = sniff_encoding(sample, encoding, shown)
    size = handle.seek(0, io.SEEK_END)
    if name not in ("utf-8", "utf-8-sig") and not _ascii_compatible(name):
        # Newlines are not single bytes here: decode the whole (bounded) file instead.
        if size > 64 * 1024 * 1024:
            raise UserError(
                f"{shown} is {name} and too large to tail ({size} bytes).",
                hint="Read a window with offset and limit instead.",
            )
        handle.seek(0)
        text, _ = decode(handle.read(), name, shown)
        lines = text.splitlines(keepends=True)
        total = len(lines)
        chosen = lines[-count:] if count else []
        return _fit_tail(chosen, total - len(chosen) + 1, max_chars)
    position = size
    chunks: list[bytes] = []
    newlines = 0
    while position > 0 and newlines <= count:
        step = min(_TAIL_BLOCK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        chunks.append(block)
        newlines += block.count(b"\n")
        if sum(len(c) for c in chunks) > max(max_chars * 4, 1 << 20) and newlines >= 1:
            break  # enough bytes for any window the budget can show
    data = b"".join(reversed(chunks))
    if position == 0 and name == "utf-8-sig":
        data = data[len(codecs.BOM_UTF8) :]
    raw_lines = data.splitlines(keepends=True)
    if position > 0 and raw_lines:
        raw_lines = raw_lines[1:]  # the first line is partial
    chosen_raw = raw_lines[-count:] if count else []
    try:
        chosen = [line.decode(name) for line in chosen_raw]
    except UnicodeDecodeError:
        raise _decode_error(shown, name, "in the last lines") from None
    first = None
    if position == 0:
        first = len(raw_lines) - len(chosen) + 1
    return _fit_tail(chosen, first, max_chars)


def _ascii_compatible(name: str) -> bool:
    try:
        return "\n".encode(name) == b"\n" and not name.startswith(("utf-16", "utf-32"))
    except LookupError:  # pragma: no cover - name came from codecs.lookup
        return False


def _fit_tail(lines: list[str], first: int | None, max_chars: int) -> TextWindow:
    """Keep the last lines that fit in the budget; line numbers are known only when the file was short."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = len(line) + 8
        if used + cost > max_chars and kept:
            break
        kept.append(line[-max_chars:] if not kept and cost > max_chars else line)
        used += cost
    kept.reverse()
    start = (first + len(lines) - len(kept)) if first is not None else 0
    return TextWindow(kept, start, False, False)


# --- edits ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """Replace `old_text` with `new_text` (every occurrence with `replace_all`)."""

    old_text: str
    new_text: str
    replace_all: bool = False


def _line_ending(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"


def _adapt(fragment: str, ending: str) -> str:
    if ending == "\r\n" and "\r\n" not in fragment:
        return fragment.replace("\n", "\r\n")
    return fragment


def apply_edits(text: str, edits: Sequence[Edit], shown: str) -> str:
    """Apply edits in order; any edit that does not match exactly once (or at all) fails them all.

    An edit whose `old_text` is not found verbatim is retried line by line ignoring leading and trailing
    whitespace (the usual mismatch: indentation or line endings); the replacement keeps the file's
    indentation. Line endings in the edit follow the file's (LF or CRLF).

    Raises:
        UserError: an edit is empty, not found, or ambiguous; nothing is applied.
    """
    ending = _line_ending(text)
    for number, edit in enumerate(edits, 1):
        label = f"edit {number} of {len(edits)}" if len(edits) > 1 else "the edit"
        if not edit.old_text:
            raise UserError(f"old_text of {label} is empty.", hint="Give the exact text to replace.")
        old = _adapt(edit.old_text, ending)
        new = _adapt(edit.new_text, ending)
        count = text.count(old)
        if count == 1 or (count > 1 and edit.replace_all):
            text = text.replace(old, new)
            continue
        if count > 1:
            raise UserError(
                f"old_text of {label} appears {count} times in {shown}; nothing was changed.",
                hint="Include more surrounding lines so it matches once, or set replace_all=true.",
            )
        text = _replace_loose(text, old, new, ending, shown, label)
    return text


def _replace_loose(text: str, old: str, new: str, ending: str, shown: str, label: str) -> str:
    """Match `old` line by line ignoring surrounding whitespace; replace it keeping the indentation."""
    lines = text.split(ending)
    old_lines = old.split(ending)
    while old_lines and not old_lines[-1].strip():
        old_lines.pop()
    wanted = [line.strip() for line in old_lines]
    if not wanted:
        raise UserError(f"old_text of {label} is only whitespace.", hint="Give the exact text to replace.")
    matches = [
        index
        for index in range(len(lines) - len(wanted) + 1)
        if all(lines[index + k].strip() == wanted[k] for k in range(len(wanted)))
    ]
    if not matches:
        preview = old if len(old) <= 300 else old[:300] + "..."
        raise UserError(
            f"Could not find old_text of {label} in {shown}; nothing was changed. "
            f"Text searched for:\n{preview}",
            hint="Read the file again (read_text_file with line_numbers) and copy the text exactly.",
        )
    if len(matches) > 1:
        raise UserError(
            f"old_text of {label} matches {len(matches)} places in {shown} when whitespace is ignored; "
            "nothing was changed.",
            hint="Include more surrounding lines so it matches once.",
        )
    start = matches[0]
    file_indent = _indent(lines[start])
    edit_indent = _indent(old_lines[0])
    replacement = []
    for line in new.split(ending):
        if line.startswith(edit_indent):
            line = file_indent + line[len(edit_indent) :]
        replacement.append(line)
    if new.endswith(ending) and replacement and replacement[-1] == "":
        replacement.pop()
    return ending.join([*lines[:start], *replacement, *lines[start + len(wanted) :]])


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def fenced_diff(before: str, after: str, path: str) -> str:
    """A unified diff of the change in a ```diff fence longer than any backtick run inside it."""
    import difflib  # only edits need it

    diff = "".join(
        difflib.unified_diff(
            before.replace("\r\n", "\n").splitlines(keepends=True),
            after.replace("\r\n", "\n").splitlines(keepends=True),
            fromfile=f"{path}\toriginal",
            tofile=f"{path}\tmodified",
        )
    )
    if not diff:
        return "No changes: the edits leave the file as it was."
    if not diff.endswith("\n"):
        diff += "\n\\ No newline at end of file\n"
    longest = max((len(run) for run in diff.split("\n") for run in _backtick_runs(run)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}diff\n{diff}{fence}"


def _backtick_runs(line: str) -> list[str]:
    runs, current = [], ""
    for char in line:
        if char == "`":
            current += char
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs
