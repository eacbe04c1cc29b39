"""Every known escape, tried through every tool that takes SQL, in every tier and both protocol eras.

Each attempt must come back as an `isError` result saying it was refused, and the data folder must be
byte-for-byte as before: no file created (ATTACH, VACUUM INTO, journal_mode=WAL), none changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_helpers import settings, snapshot

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text
from patchbay_sqlite.server import build

pytestmark = pytest.mark.anyio

ALWAYS_DENIED = [
    "ATTACH DATABASE '{d}/evil.db' AS evil",
    "/* comment */ attach '{d}/evil.db' as evil",
    "VACUUM INTO '{d}/copy.db'",
    "vacuum main into '{d}/copy.db'",
    "VACUUM",
    "DETACH DATABASE main",
    "SELECT load_extension('{d}/evil.so')",
    "PRAGMA writable_schema = 1",
    "PRAGMA query_only = 0",
    "PRAGMA journal_mode = WAL",
    "PRAGMA user_version = 7",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "SAVEPOINT s1",
    "SELECT 1; ATTACH '{d}/evil.db' AS evil",
    "SELECT 1; DROP TABLE customers",
    "WITH x AS (SELECT 1) SELECT * FROM x; DELETE FROM customers",
]
# Changes that the tier (or the tool) does not allow.
WRITES = [
    "WITH d AS (SELECT 1) DELETE FROM reviews WHERE id IN (SELECT * FROM d)",
    "/**/dElEtE FROM reviews WHERE id = 1",
    "InSeRt INTO reviews (product_id, customer_id, rating) VALUES (1, 1, 5) RETURNING id",
    "REPLACE INTO customers (id, name, email, city, country, joined_on) VALUES (1, 'x', 'x', 'x', 'x', 'x')",
    "CREATE TEMP TABLE scratch (a)",
]
SCHEMA_CHANGES = [
    "CREATE TABLE evil (a)",
    "  /* x */ drop table reviews",
    "ALTER TABLE reviews RENAME TO r2",
    "CREATE TRIGGER t AFTER INSERT ON reviews BEGIN DELETE FROM customers; END",
    "CREATE INDEX i ON reviews (rating)",
]

REFUSED = ("Refused:", "Only one SQL statement is allowed per call")


def sql_tools(access: str) -> list[str]:
    return {
        "read": ["read_query", "explain_query"],
        "dml": ["read_query", "explain_query", "write_query"],
        "ddl": ["read_query", "explain_query", "write_query", "create_table"],
    }[access]


def attempts(access: str, tool: str) -> list[str]:
    """The statements `tool` must refuse in tier `access`."""
    statements = list(ALWAYS_DENIED)
    if tool in ("read_query", "create_table") or access == "read":
        statements += [s for s in WRITES if not (tool == "create_table" and s.startswith("CREATE TEMP"))]
    if tool not in ("write_query", "explain_query") or access != "ddl":  # explain plans, never runs
        statements += [
            s for s in SCHEMA_CHANGES if not (tool == "create_table" and s.startswith("CREATE TABLE"))
        ]
    return statements


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("access", ["read", "dml", "ddl"])
async def test_every_escape_is_refused_and_nothing_changes(shop: Path, access: str, era: str) -> None:
    folder = shop.parent
    before = snapshot(folder)
    server = build(settings("--db", f"shop={shop}", "--access", access))
    tried = 0
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        for tool in sql_tools(access):
            for statement in attempts(access, tool):
                sql = statement.format(d=folder)
                result = await client.call_tool(tool, {"query": sql})
                said = text(result)
                if tool == "explain_query" and "VACUUM" in sql.upper() and not result.is_error:
                    # VACUUM compiles to nothing a plan shows; its ATTACH is refused only when it runs.
                    assert "(empty plan)" in said
                    continue
                assert result.is_error, f"{tool} in {access} ran {sql!r}: {said}"
                assert said.startswith(REFUSED), f"{tool} in {access}, {sql!r}: {said}"
                assert "internal error" not in said
                tried += 1
        # The connection that refused all of that still works.
        ok = await client.call_tool("read_query", {"query": "SELECT count(*) AS n FROM reviews"})
        assert not ok.is_error and ok.structured_content["rows"] == [[40]]
    assert tried > 40
    assert snapshot(folder) == before


@pytest.mark.parametrize("era", ERAS)
async def test_the_sample_database_refuses_the_same_escapes(tmp_path: Path, era: str) -> None:
    before = snapshot(tmp_path)
    async with connect(build(settings()), era=era) as client:  # type: ignore[arg-type]
        for statement in ALWAYS_DENIED[:5]:
            result = await client.call_tool("read_query", {"query": statement.format(d=tmp_path)})
            assert result.is_error and text(result).startswith(REFUSED)
    assert snapshot(tmp_path) == before
