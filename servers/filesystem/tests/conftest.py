"""A real temporary tree for every test: an allowed directory, a prefix sibling, and an outside secret."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def base() -> Iterator[Path]:
    """base/allowed (the root), base/allowed-evil (a prefix sibling), base/outside (a secret)."""
    root = Path(tempfile.mkdtemp(prefix="patchbay-fs-"))
    allowed = root / "allowed"
    (allowed / "src" / "pkg").mkdir(parents=True)
    (allowed / "docs").mkdir()
    (allowed / "hello.txt").write_text("hello\nworld\n")
    (allowed / "src" / "main.py").write_text("import os\n\n\ndef main():\n    return os.getcwd()\n")
    (allowed / "src" / "pkg" / "util.py").write_text("def helper():\n    return 'TODO'\n")
    (allowed / "docs" / "guide.md").write_text("# Guide\n\nTODO: write it\n")
    (root / "allowed-evil").mkdir()
    (root / "allowed-evil" / "x.txt").write_text("evil")
    (root / "outside").mkdir()
    (root / "outside" / "secret.txt").write_text("secret")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def allowed(base: Path) -> Path:
    return base / "allowed"
