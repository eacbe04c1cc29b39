"""LISTEN/NOTIFY channels as resources: resources/subscribe (handshake era), subscriptions/listen (2026)."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client
from pg_helpers import run_sql, server

pytestmark = pytest.mark.anyio


async def test_subscribe_sends_updates_on_notify(pgdb) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            updates.append(str(root.params.uri))
            arrived.set()

    uri = "postgres://shop/listen/order%20events"
    async with Client(
        server("--dsn", f"shop={pgdb.reader_dsn}"), mode="legacy", message_handler=on_message
    ) as client:
        assert client.server_capabilities.resources.subscribe is True
        await client.subscribe_resource(uri)
        await run_sql(pgdb.superuser_dsn, "SELECT pg_notify($1, $2)", "order events", '{"id": 7}')
        with anyio.fail_after(5):
            await arrived.wait()
        assert updates == [uri]
        contents = json.loads((await client.read_resource(uri)).contents[0].text)
        assert contents["channel"] == "order events"
        assert [n["payload"] for n in contents["notifications"]] == ['{"id": 7}']

        await client.unsubscribe_resource(uri)
        arrived = anyio.Event()
        await run_sql(pgdb.superuser_dsn, "SELECT pg_notify($1, $2)", "order events", "late")
        with anyio.move_on_after(0.5):
            await arrived.wait()
        assert updates == [uri]

        with pytest.raises(Exception, match="Only postgres://DATABASE/listen/CHANNEL"):
            await client.subscribe_resource("postgres://shop/public/orders/schema")


async def test_listen_stream_in_the_2026_era(pgdb) -> None:
    uri = "postgres://shop/listen/jobs"
    async with Client(server("--dsn", f"shop={pgdb.reader_dsn}")) as client:
        first = json.loads((await client.read_resource(uri)).contents[0].text)
        assert first["notifications"] == []
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await run_sql(pgdb.superuser_dsn, "SELECT pg_notify('jobs', 'done')")
            with anyio.fail_after(5):
                async for event in subscription:
                    assert getattr(event, "uri", None) == uri
                    break
        later = json.loads((await client.read_resource(uri)).contents[0].text)
        assert [n["payload"] for n in later["notifications"]] == ["done"]


async def test_a_2026_listener_alone_starts_the_listen(pgdb) -> None:
    """No resource read first: the listen stream itself makes the server LISTEN, and a NOTIFY reaches it."""
    uri = "postgres://shop/listen/alone"
    async with Client(server("--dsn", f"shop={pgdb.reader_dsn}")) as client:
        refused = ["postgres://shop/public/orders/schema", "postgres://nope/listen/alone"]
        async with client.listen(resource_subscriptions=[uri, *refused]) as subscription:
            with anyio.fail_after(10):
                while True:  # NOTIFY until the LISTEN (started by the stream, asynchronously) receives one
                    await run_sql(pgdb.superuser_dsn, "SELECT pg_notify('alone', 'first')")
                    with anyio.move_on_after(0.3):
                        event = await subscription.__anext__()
                        break
            assert getattr(event, "uri", None) == uri
        contents = json.loads((await client.read_resource(uri)).contents[0].text)
        assert contents["notifications"] == []  # the stream's LISTEN ended with it: reading starts anew
