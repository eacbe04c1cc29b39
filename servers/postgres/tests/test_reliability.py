"""Restarts, a database that is down at start, pg_stat_statements preloaded, --strict, and password redaction.

These use a private cluster (tests/pg_cluster.py), because stopping the shared one would break other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pg_cluster import Cluster, private_cluster
from pg_helpers import call, run_sql, server

from patchbay_common.testing.clients import Launch, connect
from patchbay_common.testing.components import free_port

pytestmark = pytest.mark.anyio

PASSWORD = "s3cr3t-Pw-4a9f"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster("-c shared_preload_libraries=pg_stat_statements") as running:
        asyncio.run(run_sql(running.dsn, "CREATE EXTENSION pg_stat_statements"))
        yield running


async def test_restart_mid_session_errors_then_recovers(cluster) -> None:
    async with connect(server("--dsn", cluster.dsn, "--connect-timeout", "2")) as client:
        error, text, _ = await call(client, "query", sql="SELECT 1 AS up")
        assert not error
        results: list[tuple[bool, str, object]] = []

        async def slow() -> None:
            results.append(await call(client, "query", sql="SELECT pg_sleep(20)"))

        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            await anyio.sleep(0.5)
            await anyio.to_thread.run_sync(cluster.stop)
        error, text, _ = results[0]
        assert error and "connection to the database was lost" in text and "Nothing was changed" in text
        assert "reconnects by itself" in text

        error, text, _ = await call(client, "query", sql="SELECT 1 AS up")
        assert (
            error and "Cannot connect to database 'postgres'" in text and "try again in a few seconds" in text
        )

        await anyio.to_thread.run_sync(cluster.start)
        error, text, data = await call(client, "query", sql="SELECT 1 AS up")
        assert not error, text
        assert data["rows"] == [[1]]


async def test_database_down_at_start_does_not_stop_initialize(cluster) -> None:
    await anyio.to_thread.run_sync(cluster.stop)
    try:
        async with connect(server("--dsn", f"main={cluster.dsn}", "--connect-timeout", "1")) as client:
            tools = (await client.list_tools()).tools
            assert any(tool.name == "query" for tool in tools)
            error, text, _ = await call(client, "list_objects")
            assert error and "Cannot connect to database 'main'" in text
            error, text, _ = await call(client, "list_databases")
            assert "main: postgresql://postgres@127.0.0.1" in text and "not reachable" in text
            await anyio.to_thread.run_sync(cluster.start)
            error, text, _ = await call(client, "list_objects", schema=None, kinds=["extension"])
            assert not error and "pg_stat_statements" in text
    finally:
        if not (cluster.data / "postmaster.pid").exists():
            cluster.start()


async def test_top_queries_with_pg_stat_statements_loaded(cluster) -> None:
    import asyncpg

    application = await asyncpg.connect(
        cluster.dsn
    )  # the workload comes from an application, as in real life
    try:
        for n in range(3):
            await application.fetch("SELECT count(*) FROM generate_series(1, $1::int)", 1000 * (n + 1))
    finally:
        await application.close()
    async with connect(server("--dsn", cluster.dsn)) as client:
        error, text, _ = await call(client, "top_queries", order_by="calls", limit=50)
        assert not error, text
        assert "generate_series" in text and '"calls": 3' in text
        assert "<untrusted-data-" in text


async def test_strict_refuses_a_superuser_in_the_read_tier(cluster) -> None:
    async with connect(server("--dsn", cluster.dsn, "--strict")) as client:
        error, text, _ = await call(client, "query", sql="SELECT 1")
        assert error
        assert "refused by --strict" in text and "'postgres' is too powerful" in text and "superuser" in text
        assert "least-privilege role" in text
    async with connect(server("--dsn", cluster.dsn, "--strict", "--access", "dml")) as client:
        error, text, _ = await call(client, "query", sql="SELECT 1")
        assert not error  # --strict guards the read tier only; a write tier is an explicit choice


async def test_passwords_never_reach_the_model_or_the_log(cluster) -> None:
    dsn = cluster.dsn.replace("postgres@", f"postgres:{PASSWORD}@")
    dead = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    with tempfile.TemporaryFile("w+") as errlog:
        params = StdioServerParameters(
            command="patchbay-postgres",
            args=[
                "--dsn",
                f"live={dsn}",
                "--dsn",
                f"dead={dead}",
                "--connect-timeout",
                "1",
                "--log-level",
                "debug",
            ],
            env=Launch("patchbay-postgres").environment(),
        )
        seen: list[str] = []
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            for tool, args in [
                ("list_databases", {}),
                ("query", {"sql": f"SELECT '{PASSWORD}'::int"}),
                ("query", {"sql": "SELECT 1", "database": "dead"}),
                ("query", {"sql": "SELECT $1::text AS echoed", "params": [f"x {PASSWORD} y"]}),
            ]:
                _, text, _ = await call(client, tool, **args)
                seen.append(text)
        errlog.seek(0)
        log = errlog.read()
    assert "live: postgresql://postgres@127.0.0.1" in seen[0] and "dead: postgresql://postgres@" in seen[0]
    assert 'invalid input syntax for type integer: "***"' in seen[1]
    assert "Cannot connect to database 'dead'" in seen[2]
    assert "x *** y" in seen[3]
    assert all(PASSWORD not in text for text in seen)
    assert "tool call" in log and PASSWORD not in log
    assert "DANGER: the read-only server connects with a powerful role" in log  # a superuser, warned at start


async def test_listen_channel_survives_a_restart(cluster) -> None:
    arrived = anyio.Event()

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            arrived.set()

    async with Client(
        server("--dsn", f"db={cluster.dsn}"), mode="legacy", message_handler=on_message
    ) as client:
        await client.subscribe_resource("postgres://db/listen/jobs")
        await anyio.to_thread.run_sync(cluster.stop)
        await anyio.to_thread.run_sync(cluster.start)
        with anyio.fail_after(15):  # the listener reconnects with backoff; NOTIFY until one gets through
            while not arrived.is_set():
                with contextlib.suppress(OSError):
                    await run_sql(cluster.dsn, "SELECT pg_notify('jobs', 'after restart')")
                with anyio.move_on_after(0.3):
                    await arrived.wait()
        contents = (await client.read_resource("postgres://db/listen/jobs")).contents[0].text
        assert "after restart" in contents
