"""Helpers shared by the patchbay-sqlite tests (a module of its own: --import-mode=importlib)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from patchbay_sqlite.server import Settings


def settings(*args: str) -> Settings:
    """Settings as the command line `args` would give them."""
    return Settings(_cli_parse_args=list(args))  # type: ignore[call-arg]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the hash of its content: equal snapshots mean nothing changed."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def count(path: Path, table: str) -> int:
    """Rows in `table`, read with a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # noqa: S608
    finally:
        conn.close()
