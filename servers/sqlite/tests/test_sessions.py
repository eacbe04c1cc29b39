"""Results and cursors across client sessions: several SSE clients on one server, and a new server per call.

Some clients share one server (SSE, where the SDK runs the server's lifespan once per connection); others
start a fresh stdio server for every tool call (LangChain's `get_tools()`, llama-index). A cursor must keep
working in both cases: from the open result while it is there, by running the query again when it is gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_helpers import text

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server

pytestmark = pytest.mark.anyio

RERUN_NOTE = "may have changed since the first page"


@pytest.mark.parametrize("era", ERAS)
async def test_another_sse_client_leaving_keeps_open_results(big: Path, era: str) -> None:
    launch = Launch("patchbay-sqlite", ["--db", f"big={big}", "--max-rows", "10"])
    with http_server(launch, "sse") as running:
        async with connect(running, era=era) as alice:
            first = await alice.call_tool("read_query", {"query": "SELECT i FROM big ORDER BY i"})
            cursor = first.structured_content["next_cursor"]
            assert cursor and [r[0] for r in first.structured_content["rows"]] == list(range(1, 11))
            for _ in range(2):  # a second client comes and goes, twice
                async with connect(running, era=era) as bob:
                    await bob.call_tool("list_databases", {})
            second = await alice.call_tool("read_more_rows", {"cursor": cursor})
            assert not second.is_error, text(second)
            assert [r[0] for r in second.structured_content["rows"]] == list(range(11, 21))
            assert RERUN_NOTE not in text(second)  # paged from the open result, not run again
            resource = await alice.read_resource(second.structured_content["result_uri"] + "?offset=20")
            assert resource.contents[0].text.split("\n")[3] == "21"  # type: ignore[union-attr]
