"""State across client sessions: several SSE clients on one server, and a new server process per call.

Over SSE the SDK runs the server's lifespan once per connection, so whatever the lifespan closes must wait for
the last client. Clients such as LangChain's `get_tools()` start a new stdio server for every tool call, so a
continuation must carry everything needed to go on in another process.
"""

from __future__ import annotations

import anyio
import pytest
from pg_helpers import call, run_sql

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server

pytestmark = pytest.mark.anyio


async def test_another_sse_client_leaving_keeps_pools_and_subscriptions(pgdb) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            updates.append(str(root.params.uri))
            arrived.set()

    uri = "postgres://shop/listen/jobs"
    with http_server(Launch("patchbay-postgres", ["--dsn", f"shop={pgdb.reader_dsn}"]), "sse") as running:
        async with connect(running, era="legacy", message_handler=on_message) as alice:
            await alice.subscribe_resource(uri)
            for era in ERAS:  # other clients come and go
                async with connect(running, era=era) as bob:
                    error, text, _ = await call(bob, "query", sql="SELECT 1 AS one")
                    assert not error, text
            await run_sql(pgdb.superuser_dsn, "SELECT pg_notify('jobs', 'done')")
            with anyio.fail_after(5):
                await arrived.wait()
            assert updates == [uri]
            error, text, data = await call(alice, "query", sql="SELECT count(*) AS n FROM customers")
            assert not error and data["rows"] == [[3]], text


def _kill_children(command: str) -> int:
    """SIGKILL this process's children whose command line holds `command`; how many there were."""
    import os
    import signal
    from pathlib import Path

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
    ("sql", "params", "expected"),
    [
        ("SELECT id FROM orders WHERE id > $1 ORDER BY id", [100], list(range(111, 121))),
        (  # long enough that the cursor carries it compressed
            "SELECT id FROM orders WHERE id = ANY($1) AND status <> $2 /* "
            + "padding " * 300
            + "*/ ORDER BY id",
            [list(range(1, 2000, 2)), "none"],
            list(range(21, 41, 2)),
        ),
    ],
    ids=["params", "long-query"],
)
async def test_a_cursor_goes_on_in_a_new_server_process(pgdb, tmp_path, era, sql, params, expected) -> None:
    """A client that starts a new stdio server per call: the first server is killed after the first page."""
    from mcp.shared.exceptions import MCPError

    env = {"XDG_STATE_HOME": str(tmp_path / "state")}  # the user's cursor key, shared by both processes
    # The first database (the default) is another one: the cursor must name the database it came from.
    args = ["--dsn", f"admin={pgdb.admin_dsn}", "--dsn", f"shop={pgdb.reader_dsn}", "--max-rows", "10"]
    launch = Launch("patchbay-postgres", args, env)
    cursor = None
    try:
        async with connect(launch, era=era) as first_server:
            error, text, data = await call(first_server, "query", sql=sql, params=params, database="shop")
            assert not error, text
            cursor = data["next_cursor"]
            assert cursor and data["row_count"] == 10 and f"call read_more_rows with cursor={cursor}" in text
            assert _kill_children("patchbay-postgres") == 1
            with anyio.fail_after(10):
                await first_server.call_tool("list_databases", {})
    except* MCPError as lost:  # the killed server's stdio closed under the client
        assert "Connection closed" in str(lost.exceptions)
    assert cursor is not None
    async with connect(launch, era=era) as second_server:
        error, text, data = await call(second_server, "read_more_rows", cursor=cursor)
        assert not error, text
        assert [r[0] for r in data["rows"]] == expected
        assert "the query ran again and skipped to row 11" in text
        assert "the data may have changed since the first page" in text
        assert "Without ORDER BY" not in text
        error, text, data = await call(second_server, "read_more_rows", cursor=data["next_cursor"])
        step = expected[1] - expected[0]
        assert data["rows"][0] == [expected[-1] + step] and "skipped to row 21" in text
