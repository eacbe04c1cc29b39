"""The tool functions called with a `Deps` directly, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchbay_sqlite.deps import Deps, granted, open_catalog
from patchbay_sqlite.insights import append_insight
from patchbay_sqlite.memo import MEMO_URI, Memos
from patchbay_sqlite.policy import Access
from patchbay_sqlite.queries import read_more_rows, read_query
from patchbay_sqlite.schema import describe_table

pytestmark = pytest.mark.anyio


async def test_tools_take_their_deps_as_first_argument(big: Path) -> None:
    catalog, scratch = open_catalog([f"big={big}"], Access.READ, 5.0)
    published: list[str] = []

    async def publish(uri: str) -> None:
        published.append(uri)

    deps = Deps(catalog=catalog, memo=Memos(), publish=publish, max_rows=20, max_chars=4_000)
    try:
        first = await read_query(deps, "SELECT i, label FROM big ORDER BY i")
        assert first.structured is not None and first.structured["truncated"] is True
        assert first.structured["rows"][0] == [1, "row 1"] and "cursor=" in first.note
        cursor = first.structured["next_cursor"]
        shown = first.structured["row_count"]
        second = await read_more_rows(deps, cursor, max_rows=5)
        assert second.structured is not None
        assert [r[0] for r in second.structured["rows"]] == list(range(shown + 1, shown + 6))
        assert first.source == "query result from database big"

        described = await describe_table(deps, "BIG")
        assert described.structured is not None and described.structured["name"] == "big"

        assert await append_insight(deps, "Rows go to 1000.") == f"Insight 1 added to {MEMO_URI}."
        assert published == [MEMO_URI]
    finally:
        await catalog.close()
    assert scratch is None
    assert granted(Access.READ) == {"read", "memo"} and "ddl" in granted(Access.DDL)
