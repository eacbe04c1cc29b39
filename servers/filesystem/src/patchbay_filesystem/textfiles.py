"""Text files: encoding and binary detection, line windows that never read a whole large file, and edits.

Reads work on an open binary handle (from the roots module), so this module never sees a model's path.
A window from the start streams lines until it has enough, and stops at a deadline when asked to skip
further than it can in time; a tail seeks to the end and reads backwards in blocks, never more than
`tail_budget(max_chars)` bytes whatever the file's shape (one endless line, no newline at all), so the last
lines of a multi-gigabyte file cost a few kilobytes of I/O and memory. Edits and their diffs are bounded
too: loose matching is linear, and the diff falls back to coarser hunks instead of quadratic work.
"""

from __future__ import annotations

import bisect
import codecs
import difflib
import io
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

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
    "tail_budget",
]

SNIFF_BYTES = 8192
_TAIL_BLOCK = 64 * 1024
_TAIL_NOTES = 400  # characters of a tail's budget kept for the notes after it
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
    first: int  # 0 for a tail of a file too long to number (numbered from the end instead)
    truncated: bool  # stopped by the character budget (more lines follow)
    more: bool  # lines remain after this window (budget or limit)
    cut_line: bool = False  # the only line was longer than the budget and was cut
    tail_cut: bool = False  # a tail whose first line shown is only the end of a longer line
    tail_asked: int | None = None  # a tail showing fewer lines than asked for, though the file has more

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
        notes = []
        if self.tail_cut:
            notes.append(
                "[truncated: the first line shown is only the end of a line longer than the output limit]"
            )
        if self.tail_asked is not None:
            notes.append(
                f"[truncated: showing the last {len(self.lines)} of the {self.tail_asked} lines asked for, "
                "as many as the output limit holds; read earlier parts with offset and limit]"
            )
        if notes:
            end = "" if not body or body.endswith("\n") else "\n"
            return body + end + "\n".join(notes)
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


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _too_slow(shown: str, offset: int, number: int) -> UserError:
    return UserError(
        f"Reading {shown} stopped at the time limit at line {number}, before reaching line {offset}; "
        "nothing is shown.",
        hint="Read the end of a large file with tail, or a window nearer the start; a file of very long "
        "lines is slow to skip.",
    )


def read_head(
    handle: BinaryIO,
    *,
    offset: int,
    limit: int | None,
    max_chars: int,
    encoding: str | None,
    shown: str,
    deadline: float | None = None,
) -> TextWindow:
    """Lines `offset` (1-based) onwards, at most `limit` of them, streaming from the start of the file.

    Memory stays within about `max_chars` characters whatever the file holds; skipping to a far `offset`
    stops with a `UserError` once `deadline` (a `time.monotonic()` value) has passed.
    """
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
            if _past(deadline):
                raise _too_slow(shown, offset, number)

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
                if not number & 0xFFF and _past(deadline):
                    raise _too_slow(shown, offset, number)
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


def tail_budget(max_chars: int) -> int:
    """The most bytes a tail reads: enough for `max_chars` characters in any encoding, plus one block."""
    return 4 * max_chars + _TAIL_BLOCK


@dataclass(frozen=True)
class _Layout:
    """How lines look as bytes in one encoding: its decoder, code unit size, and the BOM to drop."""

    codec: str
    unit: int
    bom: bytes
    ascii_lines: bool  # "\n" and "\r" are the bytes 0x0A and 0x0D and never part of another character


def _layout(name: str, sample: bytes, shown: str) -> _Layout:
    """The byte layout of `name` (as `sniff_encoding` chose it); refused when lines cannot be found."""
    if name in ("utf-16", "utf-32"):
        width = 2 if name == "utf-16" else 4
        le, be = (
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            if width == 2
            else (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        )
        if sample.startswith(be):
            return _Layout(f"{name}-be", width, be, False)
        if sample.startswith(le):
            return _Layout(f"{name}-le", width, le, False)
        return _Layout(f"{name}-{'le' if sys.byteorder == 'little' else 'be'}", width, b"", False)
    codec = "utf-8" if name == "utf-8-sig" else name
    bom = codecs.BOM_UTF8 if name == "utf-8-sig" else b""
    try:
        newline, carriage = "\n".encode(codec), "\r".encode(codec)
    except (LookupError, UnicodeError, TypeError):
        newline = carriage = b""
    if len(newline) not in (1, 2, 4) or len(carriage) != len(newline):
        raise UserError(
            f"The last lines of {shown} cannot be found in the {name} encoding.",
            hint="Read a window with offset and limit instead.",
        )
    ascii_lines = newline == b"\n" and carriage == b"\r" and _ascii_compatible(codec)
    return _Layout(codec, len(newline), bom, ascii_lines)


def _line_ends(block: bytes, layout: _Layout) -> int:
    """How many lines end in `block` (CR, LF or CRLF); one too many when a CRLF straddles two blocks."""
    if layout.ascii_lines:
        return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    text = block.decode(layout.codec, "replace")
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _start_of_character(data: bytes, layout: _Layout) -> bytes:
    """`data` read from the middle of a file, from its first whole character on."""
    if layout.codec == "utf-8":
        skip = 0
        while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
            skip += 1
        return data[skip:]
    if layout.unit == 2 and len(data) >= 2:  # a low surrogate whose high half was not read
        unit = int.from_bytes(data[:2], "little" if layout.codec.endswith("le") else "big")
        if 0xDC00 <= unit <= 0xDFFF:
            return data[2:]
    return data


def _split_lines(data: bytes, layout: _Layout, partial: bool, shown: str) -> list[str]:
    """Decode `data` into lines that keep their endings; a partial first line is decoded leniently."""
    if partial:
        data = _start_of_character(data, layout)
    try:
        if layout.ascii_lines:
            raw = data.splitlines(keepends=True)
            lines = [line.decode(layout.codec) for line in raw[1:]] if partial else []
            if partial and raw:
                return [raw[0].decode(layout.codec, "replace"), *lines]
            return [line.decode(layout.codec) for line in raw]
        return io.StringIO(data.decode(layout.codec), newline="").readlines()
    except UnicodeDecodeError:
        raise _decode_error(shown, layout.codec, "in the last lines") from None


def read_tail(
    handle: BinaryIO, *, count: int, max_chars: int, encoding: str | None, shown: str
) -> TextWindow:
    """The last `count` lines, read backwards from the end in blocks.

    At most `tail_budget(max_chars)` bytes are read, whatever the file's size and shape: a file with one
    endless line, or no newline at all, shows the end of that line with a marker saying it was cut.
    """
    sample = handle.read(SNIFF_BYTES)
    name = sniff_encoding(sample, encoding, shown)
    layout = _layout(name, sample, shown)
    size = handle.seek(0, io.SEEK_END)
    end = size - size % layout.unit
    budget = tail_budget(max_chars)
    position = end
    chunks: list[bytes] = []
    held = ends = 0
    while position > 0 and ends <= count + 1 and held < budget:
        step = min(_TAIL_BLOCK, position)  # _TAIL_BLOCK is a multiple of every code unit size
        position -= step
        handle.seek(position)
        block = handle.read(step)
        chunks.append(block)
        held += len(block)
        ends += _line_ends(block, layout)
    data = b"".join(reversed(chunks))
    if position == 0 and layout.bom and data.startswith(layout.bom):
        data = data[len(layout.bom) :]
    partial = position > 0  # the first line read may have begun before the bytes in hand
    lines = _split_lines(data, layout, partial, shown)
    if partial and len(lines) > count:
        lines, partial = lines[1:], False
    chosen = lines[-count:] if count else []
    cut = partial and len(chosen) == len(lines) and bool(chosen)
    first = len(lines) - len(chosen) + 1 if position == 0 else None
    return _fit_tail(chosen, first, max_chars, count, cut, more_before=position > 0)


def _ascii_compatible(name: str) -> bool:
    try:
        return "\n".encode(name) == b"\n" and not name.startswith(("utf-16", "utf-32"))
    except LookupError:  # pragma: no cover - name came from codecs.lookup
        return False


def _fit_tail(
    lines: list[str], first: int | None, max_chars: int, asked: int, cut: bool, more_before: bool
) -> TextWindow:
    """Keep the last lines that fit in the budget; line numbers are known only when the file was short.

    `cut` says the first of `lines` is only the end of a line; `more_before` that the file has lines
    before the first of `lines`.
    """
    kept: list[str] = []
    used = 0
    cut_last = False
    budget = max(100, max_chars - _TAIL_NOTES)
    for line in reversed(lines):
        cost = len(line) + 8
        if kept and used + cost > budget:
            break
        if not kept and cost > budget:  # the last line alone is longer than the budget: show its end
            kept.append(line[-budget:])
            cut_last = True
            break
        kept.append(line)
        used += cost
    kept.reverse()
    start = (first + len(lines) - len(kept)) if first is not None else 0
    fewer = len(kept) < asked and (more_before or len(kept) < len(lines))
    return TextWindow(
        kept,
        start,
        False,
        False,
        tail_cut=cut_last or (cut and len(kept) == len(lines)),
        tail_asked=asked if fewer else None,
    )


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


def apply_edits(text: str, edits: Sequence[Edit], shown: str, *, deadline: float | None = None) -> str:
    """Apply edits in order; any edit that does not match exactly once (or at all) fails them all.

    An edit whose `old_text` is not found verbatim is retried line by line ignoring leading and trailing
    whitespace (the usual mismatch: indentation or line endings); the replacement keeps the file's
    indentation. Line endings in the edit follow the file's (LF or CRLF). Each edit costs time linear in
    the text; past `deadline` (a `time.monotonic()` value) the remaining edits are not tried.

    Raises:
        UserError: an edit is empty, not found, or ambiguous, or the deadline passed; nothing is applied.
    """
    ending = _line_ending(text)
    for number, edit in enumerate(edits, 1):
        label = f"edit {number} of {len(edits)}" if len(edits) > 1 else "the edit"
        if _past(deadline):
            raise UserError(
                f"Stopped at the time limit before {label} in {shown}; nothing was changed.",
                hint="Send fewer or smaller edits per call.",
            )
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


def _separator(*texts: str) -> str:
    """A character that occurs in none of `texts` (to join lines without creating false matches)."""
    for code in (0, 1, 2, 3, 0xFFFF, 0x10FFFF, *range(0xE000, 0xF900)):
        char = chr(code)
        if not any(char in text for text in texts):
            return char
    raise UserError("The file uses every private-use character; loose matching is not possible.")


def _replace_loose(text: str, old: str, new: str, ending: str, shown: str, label: str) -> str:
    """Match `old` line by line ignoring surrounding whitespace; replace it keeping the indentation.

    The stripped lines are joined with a character found in neither text and searched with `str.find`,
    so the cost is linear in the file, not lines times edit lines.
    """
    lines = text.split(ending)
    old_lines = old.split(ending)
    while old_lines and not old_lines[-1].strip():
        old_lines.pop()
    wanted = [line.strip() for line in old_lines]
    if not wanted:
        raise UserError(f"old_text of {label} is only whitespace.", hint="Give the exact text to replace.")
    sep = _separator(text, old)
    haystack = sep + sep.join(line.strip() for line in lines) + sep
    needle = sep + sep.join(wanted) + sep
    matches: list[int] = []
    at = haystack.find(needle)
    while at != -1 and len(matches) < 2:
        matches.append(haystack.count(sep, 0, at))  # the line index: one separator before each line
        at = haystack.find(needle, at + 1)
    if not matches:
        preview = old if len(old) <= 300 else old[:300] + "..."
        raise UserError(
            f"Could not find old_text of {label} in {shown}; nothing was changed. "
            f"Text searched for:\n{preview}",
            hint="Read the file again (read_text_file with line_numbers) and copy the text exactly.",
        )
    if len(matches) > 1:
        raise UserError(
            f"old_text of {label} matches more than one place in {shown} when whitespace is ignored; "
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


# --- diffs ----------------------------------------------------------------------------------------------

Opcode = tuple[str, int, int, int, int]

_CONTEXT = 3
_GAP_CELLS = 1_000_000  # the largest gap (its lines times the other side's) difflib aligns line by line
_DIFF_CELLS = 4_000_000  # all such gaps of one diff together (difflib is quadratic or worse)


def _split(text: str) -> list[str]:
    """Lines that keep their newline (CRLF read as LF); only LF ends a line in a unified diff."""
    parts = text.replace("\r\n", "\n").split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _same_run(a: list[str], b: list[str], i: int, i_stop: int, j: int, j_stop: int, way: int) -> int:
    """How many lines are equal from a[i] and b[j] on (way 1), or just before them (way -1).

    Lines are compared in growing slices, so a long equal run costs C time, not a Python step per line.
    """
    limit = min(abs(i_stop - i), abs(j_stop - j))
    done, step = 0, 1
    while done < limit:
        step = min(step, limit - done)
        if way > 0:
            same = a[i + done : i + done + step] == b[j + done : j + done + step]
        else:
            same = a[i - done - step : i - done] == b[j - done - step : j - done]
        if same:
            done += step
            step *= 2
        elif step == 1:
            break
        else:
            step //= 2
    return done


def _anchors(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int) -> list[tuple[int, int]]:
    """Lines found exactly once on each side, kept in an order both sides agree on (patience diff)."""
    in_a = Counter(a[i1:i2])
    in_b = Counter(b[j1:j2])
    where = dict(zip(b[j1:j2], range(j1, j2), strict=True))  # a line found once: its only index
    pairs = [
        (i, where[line]) for i, line in enumerate(a[i1:i2], i1) if in_a[line] == 1 and in_b.get(line) == 1
    ]
    tops: list[int] = []  # tops[k]: index in pairs of the smallest last j of an increasing run of k + 1
    before = [-1] * len(pairs)
    ends: list[int] = []
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(ends, j)
        if k:
            before[index] = tops[k - 1]
        if k == len(ends):
            ends.append(j)
            tops.append(index)
        else:
            ends[k] = j
            tops[k] = index
    chain: list[tuple[int, int]] = []
    index = tops[-1] if tops else -1
    while index >= 0:
        chain.append(pairs[index])
        index = before[index]
    chain.reverse()
    return chain


def _opcodes(a: list[str], b: list[str], deadline: float | None) -> list[Opcode]:
    """Opcodes (as difflib's) turning `a` into `b`, in time close to linear whatever the input.

    Unique lines common to both sides anchor the alignment; the gaps between anchors are aligned by
    difflib while they are small and the budget lasts, and shown as replaced blocks otherwise.
    """
    ops: list[list[Any]] = []
    cells = [_DIFF_CELLS]

    def emit(tag: str, i1: int, i2: int, j1: int, j2: int) -> None:
        if i1 == i2 and j1 == j2:
            return
        if ops and ops[-1][0] == tag and ops[-1][2] == i1 and ops[-1][4] == j1:
            ops[-1][2], ops[-1][4] = i2, j2
            return
        ops.append([tag, i1, i2, j1, j2])

    def gap(i1: int, i2: int, j1: int, j2: int) -> None:
        if i1 == i2 and j1 == j2:
            return
        same = _same_run(a, b, i1, i2, j1, j2, 1)
        emit("equal", i1, i1 + same, j1, j1 + same)
        i1, j1 = i1 + same, j1 + same
        same = _same_run(a, b, i2, i1, j2, j1, -1)
        i2, j2, after = i2 - same, j2 - same, (i2 - same, i2, j2 - same, j2)
        size = (i2 - i1) * (j2 - j1)
        if i1 == i2 or j1 == j2:
            emit("delete" if j1 == j2 else "insert", i1, i2, j1, j2)
        elif size <= _GAP_CELLS and size <= cells[0] and not _past(deadline):
            cells[0] -= size
            matcher = difflib.SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
            for tag, x1, x2, y1, y2 in matcher.get_opcodes():
                emit(tag, i1 + x1, i1 + x2, j1 + y1, j1 + y2)
        else:
            emit("replace", i1, i2, j1, j2)
        emit("equal", *after)

    head = _same_run(a, b, 0, len(a), 0, len(b), 1)
    tail = _same_run(a, b, len(a), head, len(b), head, -1)
    emit("equal", 0, head, 0, head)
    i, j = head, head
    for count, (anchor_i, anchor_j) in enumerate(_anchors(a, b, head, len(a) - tail, head, len(b) - tail)):
        if not count & 0xFFF and _past(deadline):
            break  # the rest becomes one replaced block below
        gap(i, anchor_i, j, anchor_j)
        emit("equal", anchor_i, anchor_i + 1, anchor_j, anchor_j + 1)
        i, j = anchor_i + 1, anchor_j + 1
    gap(i, len(a) - tail, j, len(b) - tail)
    emit("equal", len(a) - tail, len(a), len(b) - tail, len(b))
    return [(op[0], op[1], op[2], op[3], op[4]) for op in ops]


def _grouped(ops: list[Opcode], n: int = _CONTEXT) -> Iterator[list[Opcode]]:
    """The opcodes in hunks with `n` lines of context (difflib's get_grouped_opcodes)."""
    codes = list(ops) or [("equal", 0, 1, 0, 1)]
    tag, i1, i2, j1, j2 = codes[0]
    if tag == "equal":
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    tag, i1, i2, j1, j2 = codes[-1]
    if tag == "equal":
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start
    return str(first) if length == 1 else f"{first},{length}"


def _hunk(group: list[Opcode], a: list[str], b: list[str]) -> Iterator[str]:
    """The lines of one unified diff hunk, its @@ header first (each ends with a newline)."""
    first, last = group[0], group[-1]
    yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
    for tag, i1, i2, j1, j2 in group:
        rows = [(" ", i1, i2, a)] if tag == "equal" else [("-", i1, i2, a), ("+", j1, j2, b)]
        for mark, start, stop, lines in rows:
            for line in lines[start:stop]:
                yield mark + line if line.endswith("\n") else f"{mark}{line}\n\\ No newline at end of file\n"


def _hunk_size(group: list[Opcode]) -> int:
    return 1 + sum(i2 - i1 + (j2 - j1 if tag != "equal" else 0) for tag, i1, i2, j1, j2 in group)


def fenced_diff(
    before: str, after: str, path: str, *, max_chars: int | None = None, deadline: float | None = None
) -> str:
    """A unified diff of the change in a ```diff fence longer than any backtick run inside it.

    Its cost stays close to linear in the text (see `_opcodes`); with `max_chars` it is cut at that many
    characters with a marker saying how much was left out.
    """
    a, b = _split(before), _split(after)
    groups = list(_grouped(_opcodes(a, b, deadline)))
    if not groups:
        return "No changes: the edits leave the file as it was."
    shown = [f"--- {path}\toriginal\n", f"+++ {path}\tmodified\n"]
    used = sum(len(line) for line in shown)
    left_out = 0
    for number, group in enumerate(groups):
        for line in _hunk(group, a, b):
            if max_chars is not None and len(line) > max_chars // 2:  # one huge line (minified code)
                line = f"{line[: max_chars // 2]}... [{len(line) - max_chars // 2} more characters]\n"
            if max_chars is not None and used + len(line) > max_chars and len(shown) > 3:
                total = sum(_hunk_size(g) for g in groups[number:])
                left_out = total - (len(shown) - 2 - sum(_hunk_size(g) for g in groups[:number]))
                break
            shown.append(line)
            used += len(line)
        if left_out:
            break
    diff = "".join(shown)
    longest = max((len(run) for run in re.findall(r"`+", diff)), default=0)
    fence = "`" * max(3, longest + 1)
    cut = f"\n[diff cut at the output limit: {left_out} more diff lines not shown]" if left_out else ""
    return f"{fence}diff\n{diff}{fence}{cut}"
