"""Refusals never describe what lies outside the roots: a link's target is not named, only that it leads out.

Every way a resolved path can leave the roots is tried (file and directory links, dangling links, relative
escapes, chains of links, a link into a prefix sibling, a parent swapped for a link, a link into the part
of an operator directory a client's roots leave out) through every operation that resolves a path, and
the text of each refusal (message and hint) is checked for the outside names.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.errors import AccessDenied
from patchbay_common.roots import Roots

SECRET_DIR = "elsewhere-7f3a"  # names that must never appear in a refusal
SECRET_FILE = "payroll-2026.txt"


@pytest.fixture
def base() -> Iterator[Path]:
    """base/allowed (the root, with sub/ and a client-only part), base/allowed-evil, base/elsewhere-7f3a."""
    root = Path(tempfile.mkdtemp(prefix="patchbay-roots-messages-"))
    (root / "allowed" / "sub").mkdir(parents=True)
    (root / "allowed" / "private").mkdir()
    (root / "allowed" / "private" / SECRET_FILE).write_text("private")
    (root / "allowed" / "hello.txt").write_text("hello")
    (root / "allowed-evil").mkdir()
    (root / "allowed-evil" / SECRET_FILE).write_text("evil")
    (root / SECRET_DIR).mkdir()
    (root / SECRET_DIR / SECRET_FILE).write_text("secret")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _links(base: Path) -> dict[str, str]:
    """Links inside the root that lead out, by case; the value is the path a model would send."""
    allowed = base / "allowed"
    outside = base / SECRET_DIR
    (allowed / "to-file").symlink_to(outside / SECRET_FILE)
    (allowed / "to-dir").symlink_to(outside)
    (allowed / "dangling").symlink_to(outside / "not-yet.txt")
    (allowed / "sub" / "relative").symlink_to(f"../../{SECRET_DIR}/{SECRET_FILE}")
    (allowed / "hop2").symlink_to(outside / SECRET_FILE)
    (allowed / "hop1").symlink_to("hop2")
    (allowed / "sibling").symlink_to(base / "allowed-evil" / SECRET_FILE)
    (allowed / "dir-then-dangling").symlink_to(outside)
    return {
        "file link": str(allowed / "to-file"),
        "directory link": str(allowed / "to-dir"),
        "through a directory link": str(allowed / "to-dir" / SECRET_FILE),
        "dangling link": str(allowed / "dangling"),
        "relative escape": str(allowed / "sub" / "relative"),
        "chain of links": str(allowed / "hop1"),
        "prefix sibling": str(allowed / "sibling"),
        "missing file behind a directory link": str(allowed / "dir-then-dangling" / "new.txt"),
        "relative spelling": "to-dir/" + SECRET_FILE,
    }


OPERATIONS: dict[str, Callable[[Roots, str], Any]] = {
    "read": lambda roots, path: roots.read_bytes(path),
    "stat": lambda roots, path: roots.stat(path),
    "list": lambda roots, path: roots.list_dir(path),
    "write": lambda roots, path: roots.write_bytes(path, b"x"),
    "write with parents": lambda roots, path: roots.write_bytes(
        path + "/deep/f.txt", b"x", make_parents=True
    ),
    "mkdir": lambda roots, path: roots.mkdir(path + "/new"),
    "move onto": lambda roots, path: roots.move("hello.txt", path + "/moved.txt"),
    "copy from": lambda roots, path: roots.copy(path, "copied"),
    "walk": lambda roots, path: list(roots.walk(path)),
}


def _refusal(roots: Roots, operation: str, path: str) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        OPERATIONS[operation](roots, path)
    return info.value


def _assert_says_nothing_about_outside(error: AccessDenied, shown: str) -> None:
    """Outside names appear nowhere in the refusal, except inside the path the caller sent itself."""
    text = f"{error.message} {error.hint or ''}".replace(shown, "<path>")
    for name in (SECRET_DIR, SECRET_FILE, "allowed-evil", "not-yet"):
        assert name not in text, text


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_refusal_names_a_link_target_outside(base: Path, operation: str) -> None:
    roots = Roots([base / "allowed"])
    for case, path in _links(base).items():
        if operation in ("mkdir", "write with parents", "move onto") and case not in (
            "directory link",
            "missing file behind a directory link",
        ):
            continue  # these need a directory at the link
        error = _refusal(roots, operation, path)
        text = str(error)
        assert "symbolic link" in text and "points outside the allowed directories" in text, (case, text)
        _assert_says_nothing_about_outside(error, path)
    assert sorted(p.name for p in (base / SECRET_DIR).iterdir()) == [SECRET_FILE]


def test_a_parent_swapped_for_a_link_is_refused_without_naming_its_target(base: Path) -> None:
    roots = Roots([base / "allowed"])
    work = base / "allowed" / "work"
    work.mkdir()
    with roots.locate(str(work / "new.txt"), missing_ok=True):
        work.rmdir()  # a local process swaps the directory for a link to outside meanwhile
        work.symlink_to(base / SECRET_DIR)
    for operation in ("write", "read", "stat"):
        error = _refusal(roots, operation, str(work / SECRET_FILE))
        assert "points outside the allowed directories" in str(error)
        _assert_says_nothing_about_outside(error, str(work / SECRET_FILE))


def test_a_link_into_the_part_a_client_left_out_is_not_described(base: Path) -> None:
    """A client narrowed the roots to sub/; a link there into private/ must not name private/."""
    (base / "allowed" / "sub" / "peek").symlink_to(base / "allowed" / "private" / SECRET_FILE)
    narrowed = Roots([base / "allowed"]).narrowed([f"file://{base}/allowed/sub"])
    for operation in ("read", "stat", "write"):
        error = _refusal(narrowed, operation, str(base / "allowed" / "sub" / "peek"))
        text = f"{error.message} {error.hint or ''}".replace(str(base / "allowed" / "sub" / "peek"), "<path>")
        assert "points outside the allowed directories" in text
        assert "private" not in text and SECRET_FILE not in text, text
