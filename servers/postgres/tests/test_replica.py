"""Read replicas: a real streaming replica (pg_basebackup -R) of the session's PostgreSQL; both eras."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anyio
import pg_helpers
import pytest
from pg_helpers import dsn_for, run_sql

from patchbay_common.testing.clients import connect
from patchbay_common.testing.components import PostgresInstance, PostgresReplica, postgres_replica
from patchbay_postgres.server import Settings, build

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def replica(postgres_instance: PostgresInstance, pgdb: pg_helpers.TestDb) -> Iterator[PostgresReplica]:
    asyncio.run(run_sql(pgdb.superuser_dsn, "CREATE TABLE IF NOT EXISTS replicated (v text)"))
    with postgres_replica(postgres_instance) as instance:
        yield instance


def server(pgdb: pg_helpers.TestDb, replica: PostgresReplica, *more: str) -> Any:
    args = ["--dsn", pgdb.superuser_dsn, "--replica-dsn", dsn_for(replica.dsn, pgdb.name)]
    return build(Settings(_cli_parse_args=[*args, "--access", "dml", "--max-replica-lag", "1", *more]))


def rows(result: Any) -> list[list[Any]]:
    assert not result.is_error, result.content
    return list(result.structured_content["rows"])


def text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


IN_RECOVERY = {"sql": "SELECT pg_is_in_recovery() AS standby"}


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_reads_hit_the_replica_and_writes_the_primary(
    pgdb: pg_helpers.TestDb, replica: PostgresReplica, era: str
) -> None:
    async with connect(server(pgdb, replica), era=era) as client:  # type: ignore[arg-type]
        assert rows(await client.call_tool("query", IN_RECOVERY)) == [[True]]
        wrote = await client.call_tool(
            "execute_sql", {"sql": "INSERT INTO replicated VALUES ($1)", "params": [f"from-{era}"]}
        )
        assert not wrote.is_error, wrote.content
        on_primary = await run_sql(
            pgdb.superuser_dsn, "SELECT count(*) FROM replicated WHERE v = $1", f"from-{era}"
        )
        assert on_primary[0][0] == 1  # the write landed on the primary (a replica would refuse it)
        seen = [[0]]
        for _ in range(250):  # visible through the replica once replayed
            found = await client.call_tool(
                "query", {"sql": "SELECT count(*) FROM replicated WHERE v = $1", "params": [f"from-{era}"]}
            )
            seen = rows(found)
            if seen == [[1]]:
                break
            await anyio.sleep(0.02)
        assert seen == [[1]]
        assert "primary" not in text(found)  # no note when the replica served it
        status = await client.call_tool("replica_status", {})
        data = status.structured_content
        assert data["reads_go_to"] == "replica" and data["in_recovery"] is True
        assert data["lag_seconds"] is not None and data["lag_seconds"] <= 1
        assert "password" not in str(data["replica"])


async def test_paused_replay_sends_reads_to_the_primary_with_a_note(
    pgdb: pg_helpers.TestDb, replica: PostgresReplica
) -> None:
    replica_dsn = dsn_for(replica.dsn, pgdb.name)
    await run_sql(replica_dsn, "SELECT pg_wal_replay_pause()")
    try:
        await run_sql(pgdb.superuser_dsn, "INSERT INTO replicated VALUES ('while paused')")
        await anyio.sleep(1.3)  # longer than --max-replica-lag 1
        async with connect(server(pgdb, replica), era="modern") as client:
            result = await client.call_tool("query", IN_RECOVERY)
            assert rows(result) == [[False]]  # it ran on the primary
            note = text(result)
            assert "ran on the primary, not the replica" in note
            assert "behind the primary" in note and "paused" in note and "--max-replica-lag 1" in note
            status = (await client.call_tool("replica_status", {})).structured_content
            assert status["reads_go_to"] == "primary" and status["replay_paused"] is True
            assert status["behind_bytes"] > 0 and status["lag_seconds"] > 1
    finally:
        await run_sql(replica_dsn, "SELECT pg_wal_replay_resume()")


async def test_replica_down_falls_back_to_the_primary(
    pgdb: pg_helpers.TestDb, replica: PostgresReplica
) -> None:
    async with connect(server(pgdb, replica, "--connect-timeout", "2")) as client:
        assert rows(await client.call_tool("query", IN_RECOVERY)) == [[True]]
        replica.stop()
        try:
            result = await client.call_tool("query", IN_RECOVERY)
            assert rows(result) == [[False]]
            assert "ran on the primary" in text(result) and "not reachable" in text(result)
            status = (await client.call_tool("replica_status", {})).structured_content
            assert status["reachable"] is False and status["reads_go_to"] == "primary"
        finally:
            replica.start()


def test_a_replica_for_an_unknown_database_is_refused(pgdb: pg_helpers.TestDb) -> None:
    settings = Settings(
        _cli_parse_args=["--dsn", f"app={pgdb.superuser_dsn}", "--replica-dsn", f"other={pgdb.superuser_dsn}"]
    )
    with pytest.raises(ValueError, match="names database 'other'"):
        build(settings)


async def test_without_a_replica_the_status_tool_is_not_listed(pgdb: pg_helpers.TestDb) -> None:
    async with connect(build(Settings(_cli_parse_args=["--dsn", pgdb.superuser_dsn]))) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        status = await client.call_tool("replica_status", {})
    assert "replica_status" not in names and "query" in names
    assert status.is_error and "replica_status" in text(status)


async def test_explain_analyze_runs_on_the_primary(pgdb: pg_helpers.TestDb, replica: PostgresReplica) -> None:
    """With replay paused (but a generous bound), a table new on the primary exists only there."""
    replica_dsn = dsn_for(replica.dsn, pgdb.name)
    await run_sql(replica_dsn, "SELECT pg_wal_replay_pause()")
    try:
        await run_sql(pgdb.superuser_dsn, "CREATE TABLE only_on_primary (id int)")
        async with connect(server(pgdb, replica, "--max-replica-lag", "3600")) as client:
            plain = await client.call_tool("query", {"sql": "SELECT count(*) FROM only_on_primary"})
            assert plain.is_error and "only_on_primary" in text(
                plain
            )  # a read: the replica, not replayed yet
            analyzed = await client.call_tool(
                "query", {"sql": "EXPLAIN ANALYZE SELECT * FROM only_on_primary"}
            )
            assert not analyzed.is_error, analyzed.content
            explained = await client.call_tool(
                "explain_query", {"sql": "SELECT * FROM only_on_primary", "analyze": True}
            )
            assert not explained.is_error, explained.content
    finally:
        await run_sql(replica_dsn, "SELECT pg_wal_replay_resume()")
        await run_sql(pgdb.superuser_dsn, "DROP TABLE IF EXISTS only_on_primary")
