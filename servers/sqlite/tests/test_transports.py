"""The real console script with no arguments: over stdio in both eras, and over streamable HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_helpers import snapshot

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("era", ERAS)
async def test_zero_configuration_over_stdio(
    era: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the server's working directory: a relative ATTACH would land here
    async with connect(Launch("patchbay-sqlite"), era=era) as client:  # type: ignore[arg-type]
        names = [t.name for t in (await client.list_tools()).tools]
        assert "read_query" in names and "write_query" not in names
        result = await client.call_tool(
            "read_query", {"query": "SELECT name FROM customers WHERE id = ?", "params": [1]}
        )
        assert not result.is_error and result.structured_content["columns"] == ["name"]
        refused = await client.call_tool("read_query", {"query": "ATTACH 'x.db' AS x"})
        assert refused.is_error and "ATTACH is never allowed" in text(refused)
    assert snapshot(tmp_path) == {}


async def test_streamable_http_with_a_database_flag(tmp_path: Path) -> None:
    import shutil

    from patchbay_sqlite.sample import SAMPLE_PATH

    db = tmp_path / "shop.db"
    shutil.copyfile(SAMPLE_PATH, db)
    with http_server(Launch("patchbay-sqlite", ["--db", f"shop={db}", "--access", "dml"])) as running:
        async with connect(running, era="legacy") as client:
            changed = await client.call_tool(
                "write_query", {"query": "UPDATE products SET in_stock = 0 WHERE id = ?", "params": [2]}
            )
            assert "OK: 1 row changed in database shop." in text(
                changed
            )  # the layer frames a note-only Reply
        async with connect(running, era="modern") as client:
            rows = await client.call_tool(
                "read_query", {"query": "SELECT in_stock FROM products WHERE id = 2"}
            )
            assert rows.structured_content["rows"] == [[0]]
