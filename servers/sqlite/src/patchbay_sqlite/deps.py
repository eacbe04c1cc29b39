"""What every toolset of patchbay-sqlite needs (`Deps`), and how it is built from the flags.

`server.py` builds one `Deps` and registers every toolset with it; a test can build one directly (with a
`Catalog` of real files) and call a tool function without a server.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from patchbay_common.principals import PerPrincipal
from patchbay_sqlite.database import Catalog, Database
from patchbay_sqlite.memo import Memo
from patchbay_sqlite.policy import Access
from patchbay_sqlite.sample import SAMPLE_PATH

__all__ = ["MEMO", "TIERS", "DatabaseName", "Deps", "Params", "granted", "open_catalog"]

MEMO = "memo"
"""The access of append_insight: a write to server memory, never to a database, so granted in every tier."""

TIERS: dict[Access, frozenset[str]] = {
    Access.READ: frozenset({"read", MEMO}),
    Access.DML: frozenset({"read", MEMO, "dml"}),
    Access.DDL: frozenset({"read", MEMO, "dml", "ddl"}),
}
"""The tool access names each `--access` tier grants (write_query needs dml, create_table ddl)."""


def granted(access: Access) -> frozenset[str]:
    """The access names `--access <tier>` grants."""
    return TIERS[access]


@dataclass(frozen=True)
class Deps:
    """What the tools need, built once in server.py.

    Attributes:
        catalog: the databases by name, and the large results still open for paging.
        memo: the insights memos (`memo://insights`), one per user (`memo.Memos`).
        publish: tells the subscribers of a resource URI that it changed (both eras).
        max_rows: rows one page may hold (`--max-rows`).
        max_chars: characters one answer may hold, text and structured form together (`--max-output-chars`).
    """

    catalog: Catalog
    memo: PerPrincipal[Memo]
    publish: Callable[[str], Awaitable[None]]
    max_rows: int
    max_chars: int

    def page_rows(self, asked: int | None) -> int:
        """Rows for one page: what the model asked for, at most `--max-rows`."""
        return min(asked or self.max_rows, self.max_rows)


DatabaseName = Annotated[
    str | None, Field(description="Name of the database (see list_databases); default: the first one.")
]
Params = Annotated[
    list[str | int | float | bool | None],
    Field(description="Values for the ? placeholders, in order."),
]


def open_catalog(specs: Sequence[str], access: Access, timeout: float) -> tuple[Catalog, Path | None]:
    """The databases named by `--db` (or the sample), and a scratch directory to remove at exit, if any.

    Raises:
        ValueError: a `--db` value is malformed, names a database twice, or a file that does not exist
            (outside the ddl tier, which creates it).
    """
    databases: dict[str, Database] = {}
    scratch: Path | None = None
    for spec in specs:
        name, sep, raw = spec.partition("=")
        if not sep:
            name, raw = Path(spec).stem, spec
        name = name.strip()
        if not name or not raw.strip():
            raise ValueError(f"--db {spec!r}: expected NAME=PATH or PATH")
        if name in databases:
            raise ValueError(f"--db: the name {name!r} is given twice")
        path = Path(raw.strip()).expanduser()
        if not path.is_file() and access is not Access.DDL:
            raise ValueError(f"--db {name}: no database file at {path} (--access ddl creates it)")
        databases[name] = Database(name, path, access, timeout=timeout)
    if not databases:
        if access is Access.READ:
            databases["sample"] = Database("sample", SAMPLE_PATH, access, timeout=timeout, immutable=True)
        else:  # never change the file inside the package: work on a copy
            scratch = Path(tempfile.mkdtemp(prefix="patchbay-sqlite-"))
            copy = scratch / "sample.db"
            shutil.copyfile(SAMPLE_PATH, copy)
            databases["sample"] = Database("sample", copy, access, timeout=timeout)
    return Catalog(databases), scratch
