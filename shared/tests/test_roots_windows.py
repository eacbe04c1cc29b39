r"""The Windows path policy of `patchbay_common.roots`, tested here with `ntpath` (issue 19).

Win32 rewrites names before the file system sees them (trailing dots and spaces stripped, device names in
any folder, `name:stream`, 8.3 aliases, `\\?\` and UNC prefixes), so each class of spelling is refused
in many variants; the same names stay ordinary file names on POSIX (`posixpath`, and real files here).
"""

from __future__ import annotations

import ntpath
import posixpath
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchbay_common.errors import AccessDenied
from patchbay_common.roots import (
    Roots,
    final_path_within,
    path_problem,
    same_path,
    windows_final_path,
    windows_resolve,
)

ROOT = "C:\\Users\\ada\\notes"
DEVICES = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"] + [
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"
]
NAME = st.text(st.sampled_from("abcXYZ019 .-_\u00e9\u00df\u4e2d"), min_size=1, max_size=10).filter(
    lambda n: n.strip(". ") == n and n.split(".")[0].rstrip(" ").upper() not in {*DEVICES, "CLOCK$"}
)


def refused(path: str) -> str:
    problem = path_problem(path, ntpath)
    assert problem, f"{path!r} was not refused"
    return problem


def _spellings(name: str) -> list[str]:
    """A name in lower, upper and mixed case."""
    mixed = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))
    return sorted({name.lower(), name.upper(), mixed})


def _places(name: str) -> list[str]:
    """`name` as a relative path, a last component, a middle component, with / and \\ separators."""
    return [
        name,
        f"{ROOT}\\{name}",
        f"{ROOT}\\{name}\\inner.txt",
        f"sub/{name}",
        f"C:/Users/ada/notes/{name}/x",
    ]


class TestAlternateDataStreams:
    @pytest.mark.parametrize("base", ["file.txt", "notes", "a b.md", "\u00e9t\u00e9.txt", "x"])
    @pytest.mark.parametrize(
        "stream", [":s", "::$DATA", ":s:$DATA", ":$I30:$INDEX_ALLOCATION", ":Zone.Identifier", ":"]
    )
    def test_every_stream_spelling(self, base: str, stream: str) -> None:
        for path in _places(base + stream):
            problem = refused(path)  # a bare one-letter `x:s` also reads as drive-relative: refused too
            assert "alternate data stream" in problem or "current folder of drive" in problem

    @settings(max_examples=50)
    @given(NAME, st.text(st.sampled_from("s$DATA: ."), max_size=8))
    def test_any_colon_after_the_drive(self, base: str, stream: str) -> None:
        assert path_problem(f"{ROOT}\\{base}:{stream}", ntpath)

    def test_from_a_file_uri_with_escapes(self) -> None:
        with pytest.raises(AccessDenied, match="alternate data stream"):
            windows_resolve([ROOT], "file:///C:/Users/ada/notes/f.txt%3A%3A%24DATA")


class TestDeviceNames:
    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize("suffix", ["", ".txt", ".tar.gz", " .log", "  ", ".", " . "])
    def test_every_device_with_extensions_dots_and_spaces(self, device: str, suffix: str) -> None:
        for spelling in _spellings(device):
            for path in _places(spelling + suffix):
                assert refused(path), path

    @given(st.sampled_from(DEVICES), st.text("abcxyz.", max_size=6), st.text(" ", max_size=3))
    def test_random_case_and_extension(self, device: str, extension: str, spaces: str) -> None:
        name = "".join(c.lower() if i % 3 == 1 else c for i, c in enumerate(device))
        assert path_problem(f"{ROOT}\\{name}{spaces}.{extension}", ntpath)

    @pytest.mark.parametrize("name", ["CONSOLE.txt", "NULL", "COM10", "LPT", "AUXILIARY", "PRNT.md", "xCON"])
    def test_names_that_only_start_like_a_device_are_files(self, name: str) -> None:
        assert path_problem(f"{ROOT}\\{name}", ntpath) is None


class TestPrefixEscapes:
    @pytest.mark.parametrize(
        "path",
        [
            "\\\\?\\C:\\Users\\ada\\notes\\x",
            "\\\\?\\c:\\windows\\system32",
            "//?/C:/Users/ada/notes/x",
            "\\\\.\\C:\\Users\\ada\\notes\\x",
            "\\\\.\\PhysicalDrive0",
            "\\\\.\\pipe\\secret",
            "//./GLOBALROOT/Device/HarddiskVolume1",
            "\\/?\\C:\\x",
            "/\\.\\C:\\x",
            "\\??\\C:\\Users\\ada\\notes\\x",
            "/??/C:/x",
            "\\\\?\\UNC\\server\\share\\x",
            "\\\\server\\share\\x",
            "//server/share/x",
            "\\\\127.0.0.1\\c$\\Users",
            "\\\\localhost\\C$\\Users\\ada\\notes",
            "\\\\wsl$\\Debian\\etc\\passwd",
        ],
    )
    def test_device_nt_and_unc_paths(self, path: str) -> None:
        assert refused(path)
        with pytest.raises(AccessDenied):
            windows_resolve([ROOT], path)

    def test_unc_root_itself_cannot_be_entered_by_a_final_path(self) -> None:
        assert not final_path_within("\\\\?\\UNC\\server\\share\\x", ["\\\\?\\UNC\\server\\share"])


class TestDriveRelativeAndRooted:
    @pytest.mark.parametrize("letter", list("ACDZacz"))
    @pytest.mark.parametrize("rest", ["", "foo", "..\\secret", "Users\\ada\\notes\\x", "."])
    def test_drive_relative(self, letter: str, rest: str) -> None:
        assert "current folder of drive" in refused(f"{letter}:{rest}")

    @pytest.mark.parametrize("path", ["\\Users\\ada\\notes", "/Users/ada/notes/x", "\\x", "/"])
    def test_rooted_without_a_drive(self, path: str) -> None:
        assert "current drive" in refused(path)


class TestTrailingDotsAndSpaces:
    @pytest.mark.parametrize("name", ["a.txt.", "a.txt ", "a.txt. .", "dir.", "dir ", "secret...", "x. "])
    def test_each_place(self, name: str) -> None:
        for path in _places(name):
            assert "strips" in refused(path), path

    @given(NAME, st.text(". ", min_size=1, max_size=4))
    def test_any_trailing_run(self, name: str, tail: str) -> None:
        assert path_problem(f"{ROOT}\\{name}{tail}\\x", ntpath)

    @pytest.mark.parametrize("name", [".gitignore", "a.b.c", "..a", "a b", " lead"])
    def test_dots_and_spaces_elsewhere_are_fine(self, name: str) -> None:
        assert path_problem(f"{ROOT}\\{name}", ntpath) is None


class TestShortNames:
    @pytest.mark.parametrize("name", ["PROGRA~1", "progra~2", "LONGFI~1.TXT", "A~12", "notes~9\\x.md", "x~0"])
    def test_refused_unless_the_final_path_is_verified(self, name: str) -> None:
        assert "8.3 short alias" in refused(f"{ROOT}\\{name}")
        assert path_problem(f"{ROOT}\\{name}", ntpath, short_names_verified=True) is None

    @pytest.mark.parametrize("name", ["~backup", "a~b", "draft~", "~$doc.docx"])
    def test_a_tilde_without_a_digit_is_a_name(self, name: str) -> None:
        assert path_problem(f"{ROOT}\\{name}", ntpath) is None

    def test_the_handle_final_path_resolves_an_alias_to_its_long_name(self) -> None:
        # GetFinalPathNameByHandleW answers with long names: the alias of a sibling is caught there.
        assert final_path_within("\\\\?\\C:\\Users\\ada\\notes\\long name.txt", [ROOT])
        assert not final_path_within("\\\\?\\C:\\Users\\ada\\notes-old\\x.txt", [ROOT])


class TestOtherCharacters:
    @pytest.mark.parametrize("char", [*'<>"|?*', "\x01", "\x1f", "\t", "\n"])
    def test_wildcards_and_control_characters(self, char: str) -> None:
        assert refused(f"{ROOT}\\a{char}b")

    def test_nul_everywhere(self) -> None:
        assert "NUL byte" in refused(f"{ROOT}\\a\x00b")
        assert "NUL byte" in (path_problem("a\x00b", posixpath) or "")

    def test_overlong_name(self) -> None:
        assert "longer than 255" in refused(f"{ROOT}\\{'a' * 256}")
        assert path_problem(f"{ROOT}\\{'a' * 255}", ntpath) is None


class TestResolveAndCompare:
    def test_case_insensitive_inside_the_root(self) -> None:
        assert windows_resolve([ROOT], "c:\\USERS\\Ada\\Notes\\Sub\\x.txt") == (ROOT, ["Sub", "x.txt"])
        assert windows_resolve([ROOT], "C:/Users/ada/notes") == (ROOT, [])
        assert windows_resolve([ROOT], "file:///c:/users/ada/notes/a.md") == (ROOT, ["a.md"])

    def test_case_sensitive_volume(self) -> None:
        with pytest.raises(AccessDenied):
            windows_resolve([ROOT], "C:\\users\\ada\\notes\\x", case_insensitive=False)

    @pytest.mark.parametrize(
        "path",
        [
            "C:\\Users\\ada\\notes-evil\\x",
            "C:\\Users\\ada\\notesx",
            "C:\\Users\\ada\\notes\\..\\secret.txt",
            "C:\\Users\\ada\\notes\\sub\\..\\..\\secret.txt",
            "..\\secret.txt",
            "sub\\..\\..\\..\\x",
            "C:\\Users\\ada",
            "D:\\Users\\ada\\notes\\x",
            "C:\\..\\..\\Users\\ada\\notes-evil",
        ],
    )
    def test_outside(self, path: str) -> None:
        with pytest.raises(AccessDenied, match="outside the allowed directories"):
            windows_resolve([ROOT], path)

    def test_relative_paths_land_in_the_root_where_they_exist(self) -> None:
        roots = [ROOT, "D:\\work"]
        where = windows_resolve(roots, "plan.md", exists=lambda p: p.startswith("D:"))
        assert where == ("D:\\work", ["plan.md"])
        assert windows_resolve(roots, "plan.md") == (ROOT, ["plan.md"])

    def test_deepest_root_wins(self) -> None:
        inner = ROOT + "\\inner"
        assert windows_resolve([ROOT, inner], inner + "\\x") == (inner, ["x"])

    @settings(max_examples=150)
    @given(st.lists(st.one_of(st.just(".."), st.just("."), NAME), max_size=6), st.sampled_from(["\\", "/"]))
    def test_never_outside(self, parts: list[str], sep: str) -> None:
        path = sep.join(parts) or "."
        try:
            root, rest = windows_resolve([ROOT], path)
        except AccessDenied:
            return
        assert root == ROOT and ".." not in rest
        resolved = ntpath.normpath(ntpath.join(ROOT, *rest))
        assert same_path(resolved, ntpath.normpath(ntpath.join(ROOT, path)), ntpath)

    @pytest.mark.parametrize(
        ("root", "sibling"),
        [("strasse", "stra\u00dfe"), ("key", "\u212aey"), ("fi", "\ufb01"), ("ss", "\u00df")],
    )
    def test_no_casefold_widening(self, root: str, sibling: str) -> None:
        # str.casefold equates these; NTFS keeps them apart, so a sibling must not pass for the root.
        assert root.casefold() == sibling.casefold()
        if unicodedata.normalize("NFC", sibling) != root.upper().title():  # the Kelvin sign's NFC is K
            with pytest.raises(AccessDenied):
                windows_resolve([f"C:\\data\\{root}"], f"C:\\data\\{sibling}\\x")
        assert not final_path_within(f"\\\\?\\C:\\data\\{sibling}\\x", [f"C:\\data\\{root}"])

    def test_nfc_and_nfd_name_the_same_entry(self) -> None:
        assert same_path("C:\\caf\u00e9", "C:\\CAFE\u0301", ntpath)
        assert same_path("/caf\u00e9", "/cafe\u0301", posixpath)
        assert not same_path("/Data", "/data", posixpath)

    def test_final_path_forms(self) -> None:
        assert windows_final_path("\\\\?\\C:\\Data\\x") == "C:\\Data\\x"
        assert windows_final_path("\\\\?\\UNC\\srv\\share\\x") == "\\\\srv\\share\\x"
        assert final_path_within("\\\\?\\c:\\users\\ADA\\notes", [ROOT])
        assert not final_path_within("\\\\?\\C:\\Users\\ada\\notes2", [ROOT])
        assert not final_path_within("\\\\?\\C:\\Users\\ada\\notes\\f.txt:s", [ROOT])


# --- POSIX is unchanged --------------------------------------------------------------------------------

WINDOWS_ONLY = [
    "CON", "nul.txt", "COM1 .log", "a:b", "f.txt::$DATA", "name.", "name ", "PROGRA~1", "CONIN$", "x*y",
]  # fmt: skip


@pytest.mark.parametrize("name", WINDOWS_ONLY)
def test_posix_names_are_ordinary(name: str) -> None:
    assert path_problem(f"/srv/{name}", posixpath) is None
    assert path_problem(name, posixpath) is None


@pytest.fixture
def allowed() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="patchbay-roots-win-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_posix_roots_still_serve_those_names(allowed: Path) -> None:
    """On POSIX the names are served as before; on Windows (the CI matrix) Roots refuses in one line."""
    if sys.platform == "win32":
        with pytest.raises(ValueError, match="patchbay refuses rather than check paths weakly") as refused:
            Roots([allowed])
        assert "\n" not in str(refused.value)
        return
    roots = Roots([allowed])
    for name in WINDOWS_ONLY:
        roots.write_bytes(name, name.encode())
        assert roots.read_bytes(str(allowed / name)) == name.encode()
    assert sorted(e.name for e in roots.list_dir(str(allowed))[1]) == sorted(WINDOWS_ONLY)
    with pytest.raises(AccessDenied):
        roots.read_bytes(str(allowed) + "-evil/x")
