"""Results and cursors across client sessions: several SSE clients on one server, and a new server per call.

Some clients share one server (SSE, where the SDK runs the server's lifespan once per connection); others
start a fresh stdio server for every tool call (LangChain's `get_tools()`, llama-index). A cursor must keep
working in both cases: from the open result while it is there, by running the query again when it is gone.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.results import text

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


def _kill_children(command: str) -> int:
    """SIGKILL this process's children whose command line holds `command`; how many there were."""
    import os
    import signal

    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and command in cmdline:
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
    return killed


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    ("query", "params", "expected"),
    [
        ("SELECT i, label FROM big WHERE i > ? ORDER BY i", [100], list(range(111, 121))),
        (  # long enough that the cursor carries it compressed
            "SELECT i, label FROM big WHERE i IN ("  # noqa: S608 - numbers we wrote
            + ", ".join(str(i) for i in range(1, 1001, 2))
            + ") AND label LIKE ? ORDER BY i",
            ["row %"],
            list(range(21, 41, 2)),
        ),
    ],
    ids=["params", "long-query"],
)
async def test_a_cursor_goes_on_in_a_new_server_process(
    shop: Path, big: Path, tmp_path: Path, era: str, query: str, params: list[object], expected: list[int]
) -> None:
    """A client that starts a new stdio server per call: the first server is killed after the first page."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}  # the user's cursor key, shared by both processes
    args = ["--db", f"shop={shop}", "--db", f"big={big}", "--max-rows", "10"]
    launch = Launch("patchbay-sqlite", args, env)
    cursor = None
    try:
        async with connect(launch, era=era) as first_server:
            first = await first_server.call_tool(
                "read_query", {"query": query, "params": params, "database": "big"}
            )
            cursor = first.structured_content["next_cursor"]
            assert cursor and len(first.structured_content["rows"]) == 10
            assert _kill_children("patchbay-sqlite") == 1
            with anyio.fail_after(10):
                await first_server.call_tool("list_databases", {})
    except* MCPError as lost:  # the killed server's stdio closed under the client
        assert "Connection closed" in str(lost.exceptions)
    assert cursor is not None
    async with connect(launch, era=era) as second_server:
        second = await second_server.call_tool("read_more_rows", {"cursor": cursor})
        assert not second.is_error, text(second)
        assert [r[0] for r in second.structured_content["rows"]] == expected
        assert second.structured_content["database"] == "big"
        assert "the query ran again and skipped to row 11" in text(second)
        assert RERUN_NOTE in text(second)
        third = await second_server.call_tool(
            "read_more_rows", {"cursor": second.structured_content["next_cursor"], "max_rows": 3}
        )
        step = expected[1] - expected[0]
        assert [r[0] for r in third.structured_content["rows"]] == [
            expected[-1] + step * k for k in (1, 2, 3)
        ]
        assert RERUN_NOTE not in text(third)  # the re-run result stays open: later pages come from it


async def test_a_query_too_long_for_a_cursor_pages_while_its_result_is_open(
    big: Path, tmp_path: Path
) -> None:
    import secrets

    noise = secrets.token_hex(4000)  # incompressible: the cursor can carry only the result id
    query = f"SELECT i FROM big /* {noise} */ ORDER BY i"  # noqa: S608 - a comment we wrote
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    launch = Launch("patchbay-sqlite", ["--db", f"big={big}", "--max-rows", "10"], env)
    async with connect(launch) as server:
        first = await server.call_tool("read_query", {"query": query})
        cursor = first.structured_content["next_cursor"]
        second = await server.call_tool("read_more_rows", {"cursor": cursor})
        assert [r[0] for r in second.structured_content["rows"]] == list(range(11, 21))
    async with connect(launch) as server:
        gone = await server.call_tool("read_more_rows", {"cursor": cursor})
    assert gone.is_error and "is not available" in text(gone) and "Run the query again" in text(gone)
