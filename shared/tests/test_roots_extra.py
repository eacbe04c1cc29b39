"""Roots.walk, Roots.copy and Roots.delete on a real filesystem, including the link and race cases."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchbay_common.errors import AccessDenied, NotFound, UserError
from patchbay_common.roots import Roots


@pytest.fixture
def tree() -> Iterator[Path]:
    """base/allowed (the root) with a small tree, base/outside (a secret)."""
    base = Path(tempfile.mkdtemp(prefix="patchbay-roots-extra-"))
    allowed = base / "allowed"
    (allowed / "a" / "b").mkdir(parents=True)
    (allowed / "a" / "one.txt").write_text("one")
    (allowed / "a" / "b" / "two.txt").write_text("two")
    (allowed / "z.txt").write_text("z")
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_text("secret")
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def roots(tree: Path) -> Roots:
    return Roots([tree / "allowed"])


def _walked(roots: Roots, path: str, **options: object) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(scan.rel, scan.entries) for scan in roots.walk(path, **options)]  # type: ignore[arg-type]


class TestWalk:
    def test_depth_first_by_name(self, roots: Roots, tree: Path) -> None:
        walked = _walked(roots, str(tree / "allowed"))
        assert walked == [
            ("", [("a", "directory"), ("z.txt", "file")]),
            ("a", [("b", "directory"), ("one.txt", "file")]),
            ("a/b", [("two.txt", "file")]),
        ]

    def test_breadth_first_and_depth_limit(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "c").mkdir()
        (tree / "allowed" / "c" / "d").mkdir()
        order = [rel for rel, _ in _walked(roots, str(tree / "allowed"), breadth_first=True)]
        assert order == ["", "a", "c", "a/b", "c/d"]
        assert [rel for rel, _ in _walked(roots, str(tree / "allowed"), max_depth=1)] == [""]
        assert [rel for rel, _ in _walked(roots, str(tree / "allowed"), max_depth=2)] == ["", "a", "c"]

    def test_descend_predicate_prunes(self, roots: Roots, tree: Path) -> None:
        walked = _walked(roots, str(tree / "allowed"), descend=lambda rel, depth: rel != "a")
        assert [rel for rel, _ in walked] == [""]

    def test_links_are_listed_never_followed(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "out").symlink_to(tree / "outside")
        (tree / "allowed" / "loop").symlink_to(tree / "allowed")
        walked = _walked(roots, str(tree / "allowed"))
        assert ("out", "symlink") in walked[0][1]
        assert ("loop", "symlink") in walked[0][1]
        assert all("secret.txt" not in [name for name, _ in entries] for _, entries in walked)
        assert len(walked) == 3  # no loop

    def test_open_file_in_scan_refuses_links(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "leak").symlink_to(tree / "outside" / "secret.txt")
        for scan in roots.walk(str(tree / "allowed")):
            if scan.rel == "":
                with scan.open_file("z.txt") as handle:
                    assert handle.read() == b"z"
                with pytest.raises(AccessDenied, match="symbolic link"):
                    scan.open_file("leak")

    def test_walk_of_a_link_to_outside_is_refused(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "out").symlink_to(tree / "outside")
        with pytest.raises(AccessDenied):
            list(roots.walk(str(tree / "allowed" / "out")))

    def test_directory_swapped_for_link_mid_walk_is_skipped(self, roots: Roots, tree: Path) -> None:
        seen = []
        for scan in roots.walk(str(tree / "allowed")):
            seen.append(scan.rel)
            if scan.rel == "":
                shutil.rmtree(tree / "allowed" / "a")
                (tree / "allowed" / "a").symlink_to(tree / "outside")
        assert seen == [""]

    def test_walk_of_a_file_is_an_error(self, roots: Roots, tree: Path) -> None:
        with pytest.raises(UserError, match="not a directory"):
            list(roots.walk(str(tree / "allowed" / "z.txt")))


class TestCopy:
    def test_copy_file_keeps_mode(self, roots: Roots, tree: Path) -> None:
        source = tree / "allowed" / "z.txt"
        source.chmod(0o640)
        done = roots.copy(str(source), "copy.txt")
        assert (done.files, done.skipped) == (1, 0)
        assert (tree / "allowed" / "copy.txt").read_text() == "z"
        assert (tree / "allowed" / "copy.txt").stat().st_mode & 0o777 == 0o640
        assert not [p for p in os.listdir(tree / "allowed") if p.endswith(".tmp")]

    def test_copy_directory_skips_links(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "a" / "leak").symlink_to(tree / "outside" / "secret.txt")
        done = roots.copy("a", "a2")
        assert (done.files, done.skipped) == (2, 1)
        assert (tree / "allowed" / "a2" / "b" / "two.txt").read_text() == "two"
        assert not (tree / "allowed" / "a2" / "leak").exists()

    def test_copy_refuses_existing_destination(self, roots: Roots, tree: Path) -> None:
        with pytest.raises(UserError, match="already exists"):
            roots.copy("z.txt", "a/one.txt")
        assert (tree / "allowed" / "a" / "one.txt").read_text() == "one"

    def test_copy_into_itself_is_refused(self, roots: Roots) -> None:
        with pytest.raises(UserError, match="into itself"):
            roots.copy("a", "a/b/inner")

    def test_copy_from_or_to_outside_is_refused(self, roots: Roots, tree: Path) -> None:
        with pytest.raises(AccessDenied):
            roots.copy(str(tree / "outside" / "secret.txt"), "stolen.txt")
        with pytest.raises(AccessDenied):
            roots.copy("z.txt", str(tree / "outside" / "planted.txt"))
        assert not (tree / "outside" / "planted.txt").exists()
        assert not (tree / "allowed" / "stolen.txt").exists()

    def test_copy_to_a_dangling_link_does_not_write_through_it(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "dangling").symlink_to(tree / "outside" / "new.txt")
        with pytest.raises(UserError, match="already exists"):
            roots.copy("z.txt", "dangling")
        assert not (tree / "outside" / "new.txt").exists()

    def test_failed_directory_copy_leaves_nothing(
        self, roots: Roots, tree: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Disk full on the second file: no half-copied directory at the destination, no temporary left."""
        import errno
        import shutil as real_shutil

        calls = []
        copy = real_shutil.copyfileobj

        def disk_full(src: object, dst: object, length: int = 0) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            copy(src, dst, length)  # type: ignore[arg-type]

        monkeypatch.setattr("patchbay_common.roots.shutil.copyfileobj", disk_full)
        with pytest.raises(OSError, match="No space"):
            roots.copy("a", "a2")
        assert not (tree / "allowed" / "a2").exists()
        assert sorted(os.listdir(tree / "allowed")) == ["a", "z.txt"]


class TestDelete:
    def test_delete_file(self, roots: Roots, tree: Path) -> None:
        assert roots.delete("z.txt") == (str(tree / "allowed" / "z.txt"), "file")
        assert not (tree / "allowed" / "z.txt").exists()

    def test_delete_link_not_target(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "link").symlink_to(tree / "outside" / "secret.txt")
        assert roots.delete("link")[1] == "symlink"
        assert (tree / "outside" / "secret.txt").read_text() == "secret"

    def test_non_empty_directory_needs_recursive(self, roots: Roots, tree: Path) -> None:
        with pytest.raises(UserError, match="recursive=true"):
            roots.delete("a")
        assert (tree / "allowed" / "a" / "one.txt").exists()
        assert roots.delete("a", recursive=True)[1] == "directory"
        assert not (tree / "allowed" / "a").exists()

    def test_recursive_delete_does_not_follow_links(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "a" / "out").symlink_to(tree / "outside")
        roots.delete("a", recursive=True)
        assert (tree / "outside" / "secret.txt").read_text() == "secret"

    def test_root_and_outside_cannot_be_deleted(self, roots: Roots, tree: Path) -> None:
        with pytest.raises(AccessDenied, match="allowed directory itself"):
            roots.delete(str(tree / "allowed"), recursive=True)
        with pytest.raises(AccessDenied):
            roots.delete(str(tree / "outside" / "secret.txt"))
        with pytest.raises(AccessDenied):
            roots.delete("../outside", recursive=True)
        assert (tree / "outside" / "secret.txt").exists()

    def test_missing(self, roots: Roots) -> None:
        with pytest.raises(NotFound):
            roots.delete("nope.txt")


class TestOpenReadWithPath:
    def test_gives_the_canonical_path(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "alias").symlink_to("z.txt")
        path, handle = roots.open_read_with_path("alias")
        with handle:
            assert path == str(tree / "allowed" / "z.txt") and handle.read() == b"z"

    def test_refuses_what_open_read_refuses(self, roots: Roots, tree: Path) -> None:
        (tree / "allowed" / "leak").symlink_to(tree / "outside" / "secret.txt")
        with pytest.raises(AccessDenied):
            roots.open_read_with_path("leak")
        with pytest.raises(UserError, match="is a directory"):
            roots.open_read_with_path("a")
        os.mkfifo(tree / "allowed" / "pipe")
        with pytest.raises(AccessDenied, match="FIFO"):
            roots.open_read_with_path("pipe")
