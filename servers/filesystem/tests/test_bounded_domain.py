"""The domain functions bound their memory and time on pathological input, measured in process.

Memory is measured with tracemalloc (the peak of Python allocations during the call); files are real,
sparse where they are large. The same shapes go through the real server in test_pathological.py.
"""

from __future__ import annotations

import codecs
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from patchbay_common.errors import UserError
from patchbay_common.roots import Roots
from patchbay_filesystem import textfiles, walking
from patchbay_filesystem.policy import Policy

T = TypeVar("T")
MAX_CHARS = 25_000


def measured(fn: Callable[[], T]) -> tuple[T, float, float]:
    """`fn()`, the seconds it took and the peak MiB it allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        value = fn()
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
        tracemalloc.stop()
    return value, seconds, peak


def tail(path: Path, count: int, encoding: str | None = None) -> str:
    with path.open("rb") as handle:
        window = textfiles.read_tail(handle, count=count, max_chars=MAX_CHARS, encoding=encoding, shown="f")
    return window.render(True)


def _sparse(path: Path, prefix: bytes, size: int, suffix: bytes = b"") -> Path:
    with path.open("wb") as out:
        out.write(prefix)
        out.truncate(size)
        out.seek(0, 2)
        out.write(suffix)
    return path


@pytest.fixture
def shapes(tmp_path: Path) -> Iterator[dict[str, tuple[Path, str | None, tuple[str, ...]]]]:
    """Files of every awkward shape: (path, encoding to ask for, texts the tail must show)."""
    cut = "the first line shown is only the end of a line longer than the output limit"
    yield {
        "no newline at all (256 MiB)": (_sparse(tmp_path / "a", b"x" * 16384, 256 << 20), None, (cut,)),
        "NULs read as latin-1": (_sparse(tmp_path / "b", b"", 256 << 20), "latin-1", (cut,)),
        "huge line then a newline": (
            _sparse(tmp_path / "c", b"start\n", 256 << 20, b"\nlast\n"),
            "latin-1",
            ("-1\tlast\n", "showing the last 1 of the 3 lines asked for"),
        ),
        "CR-only line ends": (_write(tmp_path / "d", b"row\r" * 3_000_000), None, ("-1\trow\r",)),
        "UTF-16 without a newline": (
            _write(tmp_path / "e", codecs.BOM_UTF16_LE + ("\U0001f600" * 4_000_000).encode("utf-16-le")),
            None,
            (cut, "\U0001f600"),
        ),
        "UTF-8 multibyte without a newline": (
            _write(tmp_path / "g", "é€\U0001f600".encode() * 3_000_000),
            None,
            (cut, "é€\U0001f600"),
        ),
        "UTF-32 with lines": (
            _write(tmp_path / "h", codecs.BOM_UTF32_LE + ("ligne\n" * 1_000_000).encode("utf-32-le")),
            None,
            ("-1\tligne\n", "-3\tligne\n"),
        ),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_tails_of_every_shape_read_a_bounded_amount(
    shapes: dict[str, tuple[Path, str | None, tuple[str, ...]]],
) -> None:
    for shape, (path, encoding, expected) in shapes.items():
        text, seconds, peak = measured(lambda p=path, e=encoding: tail(p, 3, e))  # type: ignore[misc]
        assert peak < 4, f"{shape}: {peak:.1f} MiB"
        assert seconds < 1, f"{shape}: {seconds:.2f} s"
        assert len(text) <= MAX_CHARS, f"{shape}: {len(text)} characters"
        for piece in expected:
            assert piece in text, f"{shape}: {piece!r} not in {text[-300:]!r}"
    binary = shapes["NULs read as latin-1"][0]  # without an encoding asked for, NULs are binary
    with pytest.raises(UserError, match="binary file"):
        tail(binary, 3)


def test_a_far_offset_stops_at_the_deadline(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "one-line.txt", b"header\n" + b"y" * 16384, 4 << 30)
    with path.open("rb") as handle, pytest.raises(UserError, match="stopped at the time limit") as info:
        started = time.monotonic()
        textfiles.read_head(
            handle,
            offset=3,
            limit=None,
            max_chars=MAX_CHARS,
            encoding=None,
            shown="one-line.txt",
            deadline=started + 0.5,
        )
    assert time.monotonic() - started < 1.5
    assert "tail" in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"a(?=b)", "lookahead and lookbehind"),
        (r"a(?!b)", "lookahead and lookbehind"),
        (r"(?<=a)b", "lookahead and lookbehind"),
        (r"(?<!a)b", "lookahead and lookbehind"),
        (r"(?>a+)b", "atomic groups"),
        (r"a*+b", "possessive quantifiers"),
        (r"end\Z", r"\Z"),
    ],
)
def test_features_re2_lacks_get_a_clear_refusal(pattern: str, feature: str) -> None:
    with pytest.raises(UserError) as info:
        walking.compile_regex(pattern, literal=False, case_sensitive=None)
    text = str(info.value)
    assert feature in text and "RE2" in text and "literal=true" in text, text


@pytest.mark.parametrize(
    ("pattern", "line"),
    [
        ("(a+)+b", "a" * 28 + "c"),
        ("(x+x+)+y", "x" * 5000),
        ("^(a|aa)+$", "a" * 5000 + "c"),
        (r"^(\w+\s?)+$", ("word " * 2000).strip() + "!"),
        ("(.*a){20}", "a" * 5000),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(pattern: str, line: str) -> None:
    regex = walking.compile_regex(pattern, literal=False, case_sensitive=None)
    data = (line + "\n").encode() * 20
    hits, seconds, _ = measured(lambda: list(regex.matching_lines(data)))
    assert seconds < 0.5, f"{pattern}: {seconds:.2f} s"
    assert regex.search(line) is (pattern == "(.*a){20}") and len(hits) == (20 if hits else 0)


def test_anchors_and_classes_stay_within_one_line(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("xa\nab\r\nb\n\nc a\n")
    roots = Roots([tmp_path])
    found = walking.grep(
        roots,
        str(tmp_path),
        walking.compile_regex("^a", literal=False, case_sensitive=None),
        policy=Policy([]),
    )
    assert found.blocks == [f"{tmp_path}/f.txt\n  2: ab"]
    for pattern, lines in [("b$", [2, 3]), (r"a\sb", []), ("^$", [4]), (r"a[^x]b", []), ("a.*b", [2])]:
        regex = walking.compile_regex(pattern, literal=False, case_sensitive=None)
        data = (tmp_path / "f.txt").read_bytes().replace(b"\r\n", b"\n")
        assert [n + 1 for n, _, _ in regex.matching_lines(data)] == lines, pattern


def test_grep_never_splits_a_file_into_lines(tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_bytes(b"a\n" * 2_000_000)  # 4 MB of one-character lines
    regex = walking.compile_regex("a", literal=True, case_sensitive=None)
    found, _, peak = measured(
        lambda: walking.grep(Roots([tmp_path]), str(tmp_path), regex, policy=Policy([]), limit=1000)
    )
    assert found.matches == 1000 and found.more and found.next_offset == 1000, found
    assert peak < 16, f"{peak:.0f} MiB"


@pytest.mark.parametrize(
    "pattern",
    [
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        "{a,aa}" * 30 + "b",
        "**/" * 60 + "x",
    ],
)
def test_pathological_globs_match_in_linear_time(pattern: str) -> None:
    glob = walking.Glob.compile(pattern)
    deep = "/".join(["d1"] * 300) + "/" + "a" * 250
    _, seconds, _ = measured(lambda: [glob.matches(deep, "a" * 250) for _ in range(20)])
    assert seconds < 0.5, f"{pattern[:40]}: {seconds:.2f} s"


def test_a_hostile_gitignore_and_deny_rule_match_in_linear_time(tmp_path: Path) -> None:
    hostile = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"
    (tmp_path / ".gitignore").write_text(hostile + "\n")
    for i in range(20):
        (tmp_path / (f"{i:02}" + "a" * 240)).write_text("needle\n")
    roots = Roots([tmp_path])
    policy = Policy(roots.directories, deny=[hostile], deny_write=[hostile])
    regex = walking.compile_regex("needle", literal=True, case_sensitive=None)
    found, seconds, _ = measured(lambda: walking.grep(roots, str(tmp_path), regex, policy=policy))
    assert found.matches == 20 and seconds < 1, seconds
    _, seconds, _ = measured(lambda: [policy.check_write(f"{tmp_path}/{'a' * 250}") for _ in range(20)])
    assert seconds < 0.5


def test_edit_diffs_are_bounded_and_capped() -> None:
    before = "".join(f"{i % 150}\n" for i in range(20000))
    after = "".join(f"{(i * 7 + i // 150) % 150}\n" for i in range(20000))
    diff, seconds, peak = measured(lambda: textfiles.fenced_diff(before, after, "f", max_chars=MAX_CHARS))
    assert seconds < 3 and peak < 64, (seconds, peak)
    assert len(diff) < MAX_CHARS + 200 and "[diff cut at the output limit:" in diff
    lines = [f"line {i}\n" for i in range(30_000)]
    reversed_diff, seconds, _ = measured(
        lambda: textfiles.fenced_diff("".join(lines), "".join(reversed(lines)), "f", max_chars=MAX_CHARS)
    )
    assert seconds < 3 and len(reversed_diff) < MAX_CHARS + 200


def test_loose_matching_is_linear() -> None:
    text = "x\n" * 200_000
    started = time.perf_counter()
    with pytest.raises(UserError, match="Could not find"):
        textfiles.apply_edits(text, [textfiles.Edit(" x\n" * 2000 + "y", "z")], "f")
    edited = textfiles.apply_edits(text + "  y\n", [textfiles.Edit(" x\n y", "z")], "f")
    assert edited.endswith("x\nz\n") and time.perf_counter() - started < 2


def test_edits_stop_at_the_deadline() -> None:
    text = "a\n" * 1_000_000
    edits = [textfiles.Edit("a\n", "a\n", replace_all=True)] * 10_000
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"time limit.*nothing was changed"):
        textfiles.apply_edits(text, edits, "f", deadline=time.monotonic() + 0.3)
    assert time.perf_counter() - started < 2
