"""Fixtures: real SQLite files in temporary directories, and servers built on them."""

from __future__ import annotations

import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchbay_sqlite.sample import SAMPLE_PATH
from patchbay_sqlite.thread import THREAD_NAME

sys.path.insert(0, str(Path(__file__).parent))  # sqlite_helpers (--import-mode=importlib)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A private copy of the sample shop database in its own folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "shop.db"
    shutil.copyfile(SAMPLE_PATH, path)
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A database with a 1,000-row table `big(i, label, pad)`."""
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE big (i INTEGER PRIMARY KEY, label TEXT, pad TEXT)")
    conn.executemany("INSERT INTO big VALUES (?, ?, ?)", [(i, f"row {i}", "x" * 40) for i in range(1, 1001)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture(autouse=True)
def no_connection_left_open() -> Iterator[None]:
    """Every test closes the SQLite connections it opened (each has a thread of its own)."""
    yield
    deadline = time.monotonic() + 5
    while (left := _worker_threads()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not left, f"{len(left)} SQLite connection threads still running"


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]
