"""The roots module against every known path escape, on a real filesystem."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchbay_common.errors import AccessDenied, NotFound, UserError
from patchbay_common.roots import Roots, path_from_uri


@pytest.fixture
def tree() -> Iterator[Path]:
    """base/allowed (the root), base/allowed-evil (a prefix sibling), base/outside (a secret)."""
    base = Path(tempfile.mkdtemp(prefix="patchbay-roots-"))
    (base / "allowed" / "sub").mkdir(parents=True)
    (base / "allowed" / "sub" / "inner.txt").write_text("inner")
    (base / "allowed" / "hello.txt").write_text("hello")
    (base / "allowed-evil").mkdir()
    (base / "allowed-evil" / "x.txt").write_text("evil")
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_text("secret")
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def roots(tree: Path) -> Roots:
    return Roots([tree / "allowed"])


def test_reads_inside(roots: Roots, tree: Path) -> None:
    assert roots.read_bytes(str(tree / "allowed" / "hello.txt")) == b"hello"
    assert roots.read_bytes("sub/inner.txt") == b"inner"  # relative to the root
    assert roots.read_bytes(f"file://{tree}/allowed/hello.txt") == b"hello"


def test_dotdot_out_is_refused(roots: Roots, tree: Path) -> None:
    with pytest.raises(AccessDenied, match="outside the allowed directories"):
        roots.read_bytes(str(tree / "allowed" / ".." / "outside" / "secret.txt"))
    with pytest.raises(AccessDenied):
        roots.read_bytes("../outside/secret.txt")
    with pytest.raises(AccessDenied):
        roots.read_bytes("sub/../../outside/secret.txt")


def test_absolute_outside_is_refused(roots: Roots) -> None:
    with pytest.raises(AccessDenied) as info:
        roots.read_bytes("/etc/passwd")
    assert "Allowed:" in str(info.value)


def test_prefix_sibling_is_refused(roots: Roots, tree: Path) -> None:
    with pytest.raises(AccessDenied):
        roots.read_bytes(str(tree / "allowed-evil" / "x.txt"))
    assert not roots.is_allowed(str(tree / "allowed-evil"))


def test_symlink_to_outside_file_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "link").symlink_to(tree / "outside" / "secret.txt")
    with pytest.raises(AccessDenied, match="symbolic link"):
        roots.read_bytes(str(tree / "allowed" / "link"))


def test_symlink_to_outside_directory_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "dirlink").symlink_to(tree / "outside")
    with pytest.raises(AccessDenied):
        roots.read_bytes(str(tree / "allowed" / "dirlink" / "secret.txt"))
    with pytest.raises(AccessDenied):
        roots.list_dir(str(tree / "allowed" / "dirlink"))


def test_relative_symlink_escape_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "sub" / "rel").symlink_to("../../outside/secret.txt")
    with pytest.raises(AccessDenied):
        roots.read_bytes("sub/rel")


def test_symlink_inside_is_followed(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "alias").symlink_to(tree / "allowed" / "sub")
    assert roots.read_bytes("alias/inner.txt") == b"inner"
    path, _ = roots.stat("alias/inner.txt")
    assert path == str(tree / "allowed" / "sub" / "inner.txt")


def test_write_through_dangling_link_does_not_create_target(roots: Roots, tree: Path) -> None:
    target = tree / "outside" / "created-by-attack.txt"
    (tree / "allowed" / "dangling").symlink_to(target)
    with pytest.raises(AccessDenied):
        roots.write_bytes(str(tree / "allowed" / "dangling"), b"pwned")
    assert not target.exists()
    assert (tree / "allowed" / "dangling").is_symlink()


def test_write_into_symlinked_directory_outside_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "out").symlink_to(tree / "outside")
    with pytest.raises(AccessDenied):
        roots.write_bytes("out/new.txt", b"x")
    with pytest.raises(AccessDenied):
        roots.mkdir("out/newdir")
    assert sorted(os.listdir(tree / "outside")) == ["secret.txt"]


def test_symlink_loop_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "a").symlink_to(tree / "allowed" / "b")
    (tree / "allowed" / "b").symlink_to(tree / "allowed" / "a")
    with pytest.raises(AccessDenied, match="too many symbolic links"):
        roots.read_bytes("a")


def test_nul_byte_is_refused(roots: Roots) -> None:
    with pytest.raises(AccessDenied, match="NUL"):
        roots.read_bytes("hello.txt\x00.png")
    with pytest.raises(AccessDenied, match="NUL"):
        roots.read_bytes("file:///tmp/x%00y")


def test_other_uri_schemes_and_hosts_are_refused(roots: Roots) -> None:
    with pytest.raises(AccessDenied, match="file://"):
        roots.read_bytes("http://example.com/hello.txt")
    with pytest.raises(AccessDenied, match="this machine"):
        roots.read_bytes("file://evil.example/etc/passwd")
    assert path_from_uri("file:///a%20b") == "/a b"


def test_tilde_expands_to_home_and_is_checked(roots: Roots) -> None:
    with pytest.raises(AccessDenied):
        roots.read_bytes("~/.ssh/id_rsa")


def test_tilde_inside_a_root_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(tempfile.mkdtemp(prefix="patchbay-home-"))
    try:
        (home / "notes").mkdir()
        (home / "notes" / "a.txt").write_text("a")
        monkeypatch.setenv("HOME", str(home))
        assert Roots([home / "notes"]).read_bytes("~/notes/a.txt") == b"a"
    finally:
        shutil.rmtree(home)


def test_fifo_is_refused_without_blocking(roots: Roots, tree: Path) -> None:
    fifo = tree / "allowed" / "pipe"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def attempt() -> None:
        try:
            roots.read_bytes(str(fifo))
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], AccessDenied)
    assert "FIFO" in str(result[0])
    with pytest.raises(AccessDenied, match="FIFO"):
        roots.write_bytes(str(fifo), b"x")


def test_device_is_refused(tmp_path: Path) -> None:
    roots = Roots(["/dev"])
    with pytest.raises(AccessDenied, match="character device"):
        roots.read_bytes("/dev/zero")


def test_device_through_symlink_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "zero").symlink_to("/dev/zero")
    with pytest.raises(AccessDenied):
        roots.read_bytes("zero")


def test_unicode_normalisation_resolves_one_spelling(roots: Roots, tree: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café.txt")
    (tree / "allowed" / nfd).write_text("coffee")
    assert roots.read_bytes(unicodedata.normalize("NFC", "café.txt")) == b"coffee"


def test_unicode_normalisation_ambiguity_is_refused(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "\u00c5.txt").write_text("composed")  # Å, NFC
    (tree / "allowed" / "A\u030a.txt").write_text("decomposed")  # Å, NFD
    # each exact spelling works
    assert roots.read_bytes("\u00c5.txt") == b"composed"
    assert roots.read_bytes("A\u030a.txt") == b"decomposed"
    # ANGSTROM SIGN normalises to both: refused as ambiguous, not guessed
    with pytest.raises(AccessDenied, match="ambiguous"):
        roots.read_bytes("\u212b.txt")


def test_unicode_root_spelled_differently(tree: Path) -> None:
    nfd_dir = tree / unicodedata.normalize("NFD", "données")
    nfd_dir.mkdir()
    (nfd_dir / "a.txt").write_text("a")
    roots = Roots([nfd_dir])
    assert roots.read_bytes(str(tree / unicodedata.normalize("NFC", "données") / "a.txt")) == b"a"


def test_directory_swapped_for_symlink_between_check_and_use(roots: Roots, tree: Path) -> None:
    """The race of GHSA-53mr-w429-c597: the held descriptor keeps the write on the checked directory."""
    work = tree / "allowed" / "work"
    work.mkdir()
    with roots.locate("work/new.txt", missing_ok=True) as loc:
        # Attacker swaps the directory for a link to outside after the check.
        work.rename(tree / "allowed" / "work-moved")
        (tree / "allowed" / "work").symlink_to(tree / "outside")
        fd = os.open(loc.name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=loc.parent_fd)
        os.write(fd, b"data")
        os.close(fd)
    assert not (tree / "outside" / "new.txt").exists()
    assert (tree / "allowed" / "work-moved" / "new.txt").read_bytes() == b"data"
    # and a fresh operation now sees the link and refuses it
    with pytest.raises(AccessDenied):
        roots.write_bytes("work/new2.txt", b"x")
    assert not (tree / "outside" / "new2.txt").exists()


def test_final_component_swapped_for_symlink_is_not_followed(roots: Roots, tree: Path) -> None:
    with roots.locate("hello.txt") as loc:
        (tree / "allowed" / "hello.txt").unlink()
        (tree / "allowed" / "hello.txt").symlink_to(tree / "outside" / "secret.txt")
        from patchbay_common.roots import _open_regular

        with pytest.raises(AccessDenied, match="changed while"):
            _open_regular(loc, os.O_RDONLY)


def test_write_is_atomic_and_keeps_mode(roots: Roots, tree: Path) -> None:
    target = tree / "allowed" / "hello.txt"
    target.chmod(0o640)
    roots.write_bytes("hello.txt", b"new content")
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in (tree / "allowed").iterdir() if p.name.endswith(".tmp")] == []


def test_exclusive_write_refuses_existing(roots: Roots, tree: Path) -> None:
    with pytest.raises(UserError, match="already exists"):
        roots.write_bytes("hello.txt", b"x", exclusive=True)
    assert (tree / "allowed" / "hello.txt").read_text() == "hello"


def test_write_missing_parent(roots: Roots, tree: Path) -> None:
    with pytest.raises(NotFound, match="parent directory"):
        roots.write_bytes("nope/deeper/file.txt", b"x")
    assert not (tree / "allowed" / "nope").exists()
    roots.write_bytes("nope/deeper/file.txt", b"x", make_parents=True)
    assert (tree / "allowed" / "nope" / "deeper" / "file.txt").read_bytes() == b"x"


def test_mkdir_and_list(roots: Roots, tree: Path) -> None:
    roots.mkdir("a/b/c")
    roots.mkdir("a/b/c")  # idempotent
    (tree / "allowed" / "a" / "ln").symlink_to(tree / "outside")
    path, entries = roots.list_dir("a")
    assert path == str(tree / "allowed" / "a")
    assert [(e.name, e.kind) for e in entries] == [("b", "directory"), ("ln", "symlink")]
    with pytest.raises(UserError, match="not a directory"):
        roots.mkdir("hello.txt")


def test_move_inside_and_refusals(roots: Roots, tree: Path) -> None:
    roots.move("hello.txt", "sub/moved.txt")
    assert (tree / "allowed" / "sub" / "moved.txt").read_text() == "hello"
    with pytest.raises(UserError, match="already exists"):
        roots.move("sub/moved.txt", "sub/inner.txt")
    with pytest.raises(AccessDenied):
        roots.move("sub/moved.txt", str(tree / "outside" / "stolen.txt"))
    with pytest.raises(AccessDenied):
        roots.move(str(tree / "outside" / "secret.txt"), "mine.txt")
    with pytest.raises(AccessDenied, match="cannot be moved"):
        roots.move(str(tree / "allowed"), "x")
    assert (tree / "outside" / "secret.txt").exists()
    assert not (tree / "outside" / "stolen.txt").exists()


def test_move_source_symlink_moves_the_link_not_the_target(roots: Roots, tree: Path) -> None:
    (tree / "allowed" / "ln").symlink_to(tree / "outside" / "secret.txt")
    roots.move("ln", "ln2")
    assert (tree / "allowed" / "ln2").is_symlink()
    assert (tree / "outside" / "secret.txt").read_text() == "secret"


def test_reading_a_directory_says_what_to_do(roots: Roots) -> None:
    with pytest.raises(UserError, match="is a directory"):
        roots.read_bytes("sub")


def test_missing_file(roots: Roots) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        roots.read_bytes("nothing.txt")


def test_missing_operator_directory_is_a_clear_error(tree: Path) -> None:
    with pytest.raises(ValueError, match="cannot be used"):
        Roots([tree / "does-not-exist"])


def test_root_given_through_a_symlink_accepts_both_spellings(tree: Path) -> None:
    (tree / "alias").symlink_to(tree / "allowed")
    roots = Roots([tree / "alias"])
    assert roots.directories == [str(tree / "allowed")]
    assert roots.read_bytes(str(tree / "alias" / "hello.txt")) == b"hello"
    assert roots.read_bytes(str(tree / "allowed" / "hello.txt")) == b"hello"


class TestNarrowing:
    def test_client_root_inside_narrows(self, roots: Roots, tree: Path) -> None:
        narrowed = roots.narrowed([f"file://{tree}/allowed/sub"])
        assert narrowed.directories == [str(tree / "allowed" / "sub")]
        assert narrowed.read_bytes("inner.txt") == b"inner"
        with pytest.raises(AccessDenied):
            narrowed.read_bytes(str(tree / "allowed" / "hello.txt"))

    def test_client_root_outside_never_widens(self, roots: Roots, tree: Path) -> None:
        narrowed = roots.narrowed([f"file://{tree}/outside"])
        assert narrowed.directories == []
        with pytest.raises(AccessDenied, match="client's roots do not overlap"):
            narrowed.read_bytes(str(tree / "outside" / "secret.txt"))

    def test_client_root_above_keeps_operator_root(self, roots: Roots, tree: Path) -> None:
        narrowed = roots.narrowed([f"file://{tree}"])
        assert narrowed.directories == [str(tree / "allowed")]
        with pytest.raises(AccessDenied):
            narrowed.read_bytes(str(tree / "outside" / "secret.txt"))

    def test_client_root_symlink_escape_is_dropped(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "esc").symlink_to(tree / "outside")
        narrowed = roots.narrowed([f"file://{tree}/allowed/esc"])
        assert narrowed.directories == []

    def test_client_root_prefix_sibling_is_dropped(self, roots: Roots, tree: Path) -> None:
        assert roots.narrowed([str(tree / "allowed-evil")]).directories == []

    def test_garbage_client_roots_are_ignored(self, roots: Roots) -> None:
        assert roots.narrowed(["https://example.com/", "relative/path", "file:///x%00"]).directories == []
