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
