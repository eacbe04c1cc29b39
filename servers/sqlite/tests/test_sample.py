"""The shipped sample database is what the generator makes, and small."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from patchbay_sqlite.sample import SAMPLE_PATH, build


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_the_shipped_sample_matches_the_generator(tmp_path: Path) -> None:
    fresh = tmp_path / "sample.db"
    build(fresh)
    assert dump(fresh) == dump(SAMPLE_PATH)
    assert SAMPLE_PATH.stat().st_size < 64 * 1024
