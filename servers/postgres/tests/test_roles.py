"""What the role behind a read-tier database can do beyond reading, with real roles on the real server.

Besides superusers and the server-file roles, a role that can change data is reported: table grants
(INSERT, UPDATE, DELETE, TRUNCATE, column grants too), ownership of tables and schemas, CREATE on a schema or
the database, membership in a role that has any of these (pg_write_all_data included), CREATEROLE and
CREATEDB. The log says what to grant instead; --strict refuses the database with the same words. A role with
SELECT only (or pg_read_all_data) gets no warning.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pg_helpers import call, dsn_for, run_sql, server

from patchbay_common.testing.clients import Launch, connect
from patchbay_postgres.databases import Database, Target

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Roles:
    """Login roles made for this module, by what they may do, and the DSN of each."""

    names: dict[str, str]
    dsns: dict[str, str]


@pytest.fixture(scope="module")
def roles(pgdb) -> Iterator[Roles]:
    token = secrets.token_hex(3)
    kinds = [
        "selects", "reads_all", "inserts", "column", "owns", "creates", "member", "writes_all", "createdb",
    ]  # fmt: skip
    names = {kind: f"pbpg_{kind}_{token}" for kind in kinds}
    group = f"pbpg_group_{token}"
    setup = [f"CREATE ROLE {name} LOGIN" for name in names.values()]
    setup += [
        f"CREATE ROLE {group} NOLOGIN",
        f"GRANT USAGE ON SCHEMA public, sales TO {', '.join(names.values())}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO {', '.join(names.values())}",
        f"GRANT pg_read_all_data TO {names['reads_all']}",
        f"GRANT INSERT, UPDATE, DELETE ON customers TO {names['inserts']}",
        f"GRANT UPDATE (note) ON orders TO {names['column']}",
        f"CREATE TABLE owned_{token} (x int)",
        f"ALTER TABLE owned_{token} OWNER TO {names['owns']}",
        f"GRANT CREATE ON SCHEMA sales TO {names['creates']}",
        f"GRANT TRUNCATE ON orders TO {group}",
        f"GRANT {group} TO {names['member']}",
        f"GRANT pg_write_all_data TO {names['writes_all']}",
        f"ALTER ROLE {names['createdb']} CREATEDB",
    ]
    asyncio.run(run_sql(pgdb.superuser_dsn, ";\n".join(setup)))
    try:
        yield Roles(names, {kind: dsn_for(pgdb.admin_dsn, pgdb.name, name) for kind, name in names.items()})
    finally:
        drops = [f"DROP TABLE IF EXISTS owned_{token}"]
        drops += [f"DROP OWNED BY {name}" for name in [*names.values(), group]]
        drops += [f"DROP ROLE {name}" for name in [*names.values(), group]]
        asyncio.run(run_sql(pgdb.superuser_dsn, ";\n".join(drops)))


EXPECTED = {
    "inserts": ["can DELETE, INSERT, UPDATE 1 table (public.customers)"],
    "column": ["can UPDATE 1 table (public.orders)"],
    "owns": ["owns 1 table (public.owned_"],
    "creates": ["can CREATE in schema sales"],
    "member": ["can TRUNCATE 1 table (public.orders) through membership in pbpg_group_"],
    "writes_all": ["is a member of pg_write_all_data"],
    "createdb": ["has CREATEDB"],
}


async def test_write_privileges_are_found_with_their_source(roles) -> None:
    for kind, dsn in roles.dsns.items():
        db = Database(Target(kind, dsn))
        try:
            async with db.connection():
                pass
            assert db.role is not None and not db.role.superuser
            found = list(db.role.write_privileges)
        finally:
            await db.close()
        expected = EXPECTED.get(kind, [])
        for phrase in expected:
            assert any(phrase in item for item in found), (kind, found)
        if not expected:  # SELECT only, or pg_read_all_data: nothing to report
            assert found == [], (kind, found)


async def test_strict_refuses_a_role_that_can_write_and_says_what_to_grant(roles) -> None:
    async with connect(server("--dsn", f"shop={roles.dsns['inserts']}", "--strict")) as client:
        error, text, _ = await call(client, "query", sql="SELECT 1")
        assert error and "refused by --strict" in text
        assert "can DELETE, INSERT, UPDATE 1 table (public.customers)" in text
        assert "pg_read_all_data" in text and "SELECT" in text and "least-privilege" in text
    for kind in ("selects", "reads_all"):
        async with connect(server("--dsn", f"shop={roles.dsns[kind]}", "--strict")) as client:
            error, text, data = await call(client, "query", sql="SELECT count(*) AS n FROM customers")
            assert not error and data["rows"] == [[3]], text
    async with connect(server("--dsn", roles.dsns["inserts"], "--strict", "--access", "dml")) as client:
        error, text, _ = await call(client, "query", sql="SELECT 1")
        assert not error  # a write tier is an explicit choice: nothing to warn about


async def test_the_log_warns_about_write_privileges_in_the_read_tier(roles) -> None:
    with tempfile.TemporaryFile("w+") as errlog:
        params = StdioServerParameters(
            command="patchbay-postgres",
            args=["--dsn", f"owner={roles.dsns['owns']}", "--dsn", f"reader={roles.dsns['selects']}"],
            env=Launch("patchbay-postgres").environment(),
        )
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            for database in ("owner", "reader"):
                error, text, _ = await call(client, "query", sql="SELECT 1 AS one", database=database)
                assert not error, text
        errlog.seek(0)
        log = errlog.read()
    warnings = [line for line in log.splitlines() if "can change data" in line]
    assert len(warnings) == 1, log  # the owner only, once
    assert roles.names["owns"] in warnings[0] and "owns 1 table" in warnings[0]
    assert "pg_read_all_data" in warnings[0] and "GRANT SELECT" in warnings[0]
