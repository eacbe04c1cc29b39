"""Small helpers shared by the tests: build a server from flags, call a tool, read its text."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcp import Client

from patchbay_common.app import PatchbayServer
from patchbay_common.testing.components import PostgresInstance
from patchbay_common.testing.results import structured, text
from patchbay_postgres.server import Settings, build


def server(*argv: str) -> PatchbayServer:
    """A server built from command-line flags, as main() would."""
    return build(Settings(_cli_parse_args=list(argv)))  # type: ignore[call-arg]


async def call(client: Client, tool: str, **arguments: Any) -> tuple[bool, str, Any]:
    """(is_error, text, structured content) of one tool call."""
    result = await client.call_tool(tool, arguments)
    return bool(result.is_error), text(result), structured(result)


def framed(shown: str) -> str:
    """The content inside the (first) untrusted-data frame of a text, without the frame's own lines."""
    opening = re.search(r"^<(untrusted-data-[0-9a-f]{16}) source=\"[^\"]*\">\n[^\n]*\n", shown, re.MULTILINE)
    assert opening, shown
    return shown[opening.end() : shown.index(f"\n</{opening.group(1)}>")]


SAMPLE_SQL = """
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE,
    created_at timestamptz DEFAULT now()
);
COMMENT ON TABLE customers IS 'People who buy things';
COMMENT ON COLUMN customers.email IS 'Contact address';
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int REFERENCES customers(id),
    status text NOT NULL,
    total numeric(10,2),
    created date,
    note text
);
INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com'), ('Grace', 'grace@example.com'),
    ('Linus', NULL);
INSERT INTO orders (customer_id, status, total, created)
SELECT 1 + i % 3, (ARRAY['new','paid','shipped','cancelled'])[1 + i % 4], (i % 500) + 0.5,
       DATE '2024-01-01' + (i % 365)
FROM generate_series(1, 20000) AS i;
CREATE VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY customer_id;
CREATE MATERIALIZED VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int PRIMARY KEY, region text);
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE INDEX orders_created_idx ON orders (created);
CREATE INDEX orders_created_dup ON orders (created);
ANALYZE;
"""


@dataclass(frozen=True)
class TestDb:
    """A database of this module: DSNs for the superuser and the reader role, and the names."""

    name: str
    superuser_dsn: str
    reader_dsn: str
    reader: str
    admin_dsn: str  # the server's own maintenance database, for setup and checks


def dsn_for(base: str, database: str, user: str | None = None, password: str | None = None) -> str:
    """`base` with another database, user and password."""
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    login = user or parts.username or "postgres"
    credentials = f"{login}:{password}" if password else login
    return urlunsplit((parts.scheme, f"{credentials}@{host}{port}", f"/{database}", parts.query, ""))


async def run_sql(dsn: str, sql: str, *args: Any) -> list[Any]:
    """Run SQL with a plain asyncpg connection (test setup and checks, outside the server)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        if args:
            return list(await connection.fetch(sql, *args))
        await connection.execute(sql)
        return []
    finally:
        await connection.close()


def make_db(instance: PostgresInstance, sample: str = SAMPLE_SQL) -> TestDb:
    """Create a database with the sample schema and a reader role; the caller drops them with drop_db."""
    token = secrets.token_hex(4)
    name, reader = f"pbpg_{token}", f"pbpg_reader_{token}"
    admin = instance.dsn
    asyncio.run(run_sql(admin, f"CREATE DATABASE {name}"))
    asyncio.run(run_sql(admin, f"CREATE ROLE {reader} LOGIN"))
    superuser = dsn_for(admin, name)
    asyncio.run(
        run_sql(
            superuser,
            sample
            + f"""
            GRANT USAGE ON SCHEMA public, sales TO {reader};
            GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO {reader};
            """,
        )
    )
    return TestDb(name, superuser, dsn_for(admin, name, reader), reader, admin)


def drop_db(db: TestDb) -> None:
    """Drop the database and the role made by make_db."""
    asyncio.run(run_sql(db.admin_dsn, f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)"))
    asyncio.run(run_sql(db.admin_dsn, f"DROP ROLE IF EXISTS {db.reader}"))
