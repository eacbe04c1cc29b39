"""Line windows, encodings and edits on real files, without the server."""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest

from patchbay_common.errors import UserError
from patchbay_filesystem import textfiles
from patchbay_filesystem.textfiles import Edit, apply_edits, fenced_diff


def _head(path: Path, **options: object) -> textfiles.TextWindow:
    defaults: dict[str, object] = {"offset": 1, "limit": None, "max_chars": 25_000, "encoding": None}
    with path.open("rb") as handle:
        return textfiles.read_head(handle, shown=str(path), **{**defaults, **options})  # type: ignore[arg-type]


def _tail(path: Path, count: int, **options: object) -> textfiles.TextWindow:
    defaults: dict[str, object] = {"max_chars": 25_000, "encoding": None}
    with path.open("rb") as handle:
        return textfiles.read_tail(handle, count=count, shown=str(path), **{**defaults, **options})  # type: ignore[arg-type]


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {i}\n" for i in range(1, 1001)))
    return path


class TestWindows:
    def test_whole_file(self, numbered: Path) -> None:
        window = _head(numbered)
        assert window.render(False) == numbered.read_text()
        assert not window.more

    def test_offset_and_limit_with_numbers(self, numbered: Path) -> None:
        window = _head(numbered, offset=10, limit=3)
        assert window.render(True) == "    10\tline 10\n    11\tline 11\n    12\tline 12\n"
        assert window.more

    def test_budget_cut_says_where_to_continue(self, numbered: Path) -> None:
        text = _head(numbered, max_chars=200).render(False)
        assert text.startswith("line 1\n")
        assert "[truncated: showing lines 1-" in text
        last = int(text.split("showing lines 1-")[1].split(";")[0])
        assert f"call again with offset={last + 1}" in text
        assert _head(numbered, offset=last + 1, limit=1).render(False) == f"line {last + 1}\n"

    def test_one_huge_line_is_cut(self, tmp_path: Path) -> None:
        path = tmp_path / "min.js"
        path.write_text("x" * 100_000 + "\nnext\n")
        text = _head(path, max_chars=1000).render(False)
        assert len(text) < 1200
        assert "line 1 is longer than the output limit" in text and "offset=2" in text

    def test_an_endless_line_is_never_read_whole(self, tmp_path: Path) -> None:
        """A sparse 4 GB file: 1000 short lines, then one 'line' of 4 GB of NULs (no newline)."""
        path = tmp_path / "sparse.txt"
        with path.open("wb") as out:
            out.write(b"".join(b"header %04d\n" % i for i in range(1000)))
            out.truncate(4 * 1024**3)
        started = time.perf_counter()
        before = _head(path, offset=995, max_chars=5000).render(False)
        assert before.startswith("header 0994\n") and "call again with offset=1001" in before
        giant = _head(path, offset=1001, max_chars=5000).render(False)
        assert "line 1001 is longer than the output limit" in giant and len(giant) < 5200
        assert time.perf_counter() - started < 5

    def test_offset_past_end(self, numbered: Path) -> None:
        with pytest.raises(UserError, match=r"past the end.*1000 lines"):
            _head(numbered, offset=5000)

    def test_tail(self, numbered: Path) -> None:
        window = _tail(numbered, 3)
        assert window.render(False) == "line 998\nline 999\nline 1000\n"
        assert window.render(True).splitlines()[0] == "   998\tline 998"

    def test_tail_of_a_large_file_reads_only_the_end(self, tmp_path: Path) -> None:
        path = tmp_path / "big.log"
        block = b"".join(b"%08d some log text here\n" % i for i in range(100_000))
        with path.open("wb") as out:
            for _ in range(20):  # ~60 MB
                out.write(block)
        window = _tail(path, 2)
        assert window.render(False) == "00099998 some log text here\n00099999 some log text here\n"
        assert window.render(True).splitlines() == [
            "    -2\t00099998 some log text here",
            "    -1\t00099999 some log text here",
        ]

    def test_tail_without_trailing_newline_and_short_file(self, tmp_path: Path) -> None:
        path = tmp_path / "short.txt"
        path.write_text("a\nb\nc")
        assert _tail(path, 2).render(False) == "b\nc"
        assert _tail(path, 10).render(False) == "a\nb\nc"


class TestEncodings:
    def test_binary_is_refused_with_a_pointer(self, tmp_path: Path) -> None:
        path = tmp_path / "image.bin"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
        with pytest.raises(UserError, match=r"binary file.*read_media_file"):
            _head(path)

    def test_latin1_is_refused_without_mojibake_then_read_when_asked(self, tmp_path: Path) -> None:
        path = tmp_path / "old.txt"
        path.write_bytes("caf\xe9\n".encode("latin-1"))
        with pytest.raises(UserError, match=r"not valid utf-8 text.*encoding"):
            _head(path)
        assert _head(path, encoding="latin-1").render(False) == "caf\xe9\n"
        with pytest.raises(UserError, match="Unknown encoding"):
            _head(path, encoding="klingon")

    def test_utf16_with_bom_is_detected(self, tmp_path: Path) -> None:
        path = tmp_path / "win.txt"
        path.write_bytes(codecs.BOM_UTF16_LE + "one\r\ntwo\r\n".encode("utf-16-le"))
        assert _head(path).render(False) == "one\r\ntwo\r\n"
        assert _tail(path, 1).render(False) == "two\r\n"

    def test_utf8_bom_is_not_shown(self, tmp_path: Path) -> None:
        path = tmp_path / "bom.txt"
        path.write_bytes(codecs.BOM_UTF8 + b"x\ny\n")
        assert _head(path).render(False) == "x\ny\n"
        assert _tail(path, 5).render(False) == "x\ny\n"

    def test_decode_encode_round_trip_keeps_bom(self) -> None:
        data = codecs.BOM_UTF8 + b"abc"
        text, encoding = textfiles.decode(data, None, "f")
        assert text == "abc"
        assert textfiles.encode(text, encoding) == data


class TestEdits:
    def test_exact_replacement(self) -> None:
        assert apply_edits("a = 1\nb = 2\n", [Edit("b = 2", "b = 3")], "f") == "a = 1\nb = 3\n"

    def test_edits_apply_in_order(self) -> None:
        edits = [Edit("one", "two"), Edit("two", "three")]
        assert apply_edits("one\n", edits, "f") == "three\n"

    def test_missing_text_fails_with_what_was_searched(self) -> None:
        with pytest.raises(UserError, match=r"Could not find old_text.*nothing was changed") as info:
            apply_edits("abc\n", [Edit("xyz", "q")], "f")
        assert "xyz" in str(info.value) and "read_text_file" in str(info.value)

    def test_ambiguous_text_fails_unless_replace_all(self) -> None:
        with pytest.raises(UserError, match=r"appears 2 times.*replace_all"):
            apply_edits("x\nx\n", [Edit("x", "y")], "f")
        assert apply_edits("x\nx\n", [Edit("x", "y", replace_all=True)], "f") == "y\ny\n"

    def test_second_edit_failing_applies_nothing(self) -> None:
        with pytest.raises(UserError, match="edit 2 of 2"):
            apply_edits("keep\n", [Edit("keep", "changed"), Edit("absent", "x")], "f")

    def test_whitespace_insensitive_fallback_keeps_indentation(self) -> None:
        text = "def f():\n    if x:\n        return 1\n"
        edit = Edit("if x:\n    return 1", "if y:\n    return 2")
        assert apply_edits(text, [edit], "f") == "def f():\n    if y:\n        return 2\n"

    def test_crlf_file_with_lf_edit(self) -> None:
        assert apply_edits("a\r\nb\r\nc\r\n", [Edit("a\nb", "x\ny")], "f") == "x\r\ny\r\nc\r\n"

    def test_empty_old_text(self) -> None:
        with pytest.raises(UserError, match="empty"):
            apply_edits("a", [Edit("", "b")], "f")

    def test_diff_fence_outgrows_backticks(self) -> None:
        diff = fenced_diff("a\n", "```\n", "/x/f.md")
        assert diff.startswith("````diff\n") and diff.endswith("````")
        assert "-a" in diff and "+```" in diff
        assert fenced_diff("same\n", "same\n", "f").startswith("No changes")
