"""The authorizer on its own, on a plain sqlite3 connection: what each tier and purpose lets through."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from patchbay_sqlite.policy import Access, Authorizer, Purpose


def run(path: Path, sql: str, access: Access, purpose: Purpose) -> tuple[str, Authorizer]:
    conn = sqlite3.connect(path, isolation_level=None)
    auth = Authorizer(access)
    auth.begin(purpose)
    conn.set_authorizer(auth)
    try:
        conn.execute(sql).fetchall()
        return "ok", auth
    except sqlite3.DatabaseError as exc:
        return str(exc), auth
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers WHERE city = 'Lyon'",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT * FROM c",
        "PRAGMA table_info(orders)",
        "SELECT name FROM pragma_table_info('orders')",
        "SELECT * FROM json_each('[1, 2]')",
        "PRAGMA user_version",
        "SELECT * FROM order_totals",
    ],
)
def test_reads_pass_in_the_read_tier(shop: Path, sql: str) -> None:
    outcome, auth = run(shop, sql, Access.READ, Purpose.READ)
    assert outcome == "ok"
    assert auth.denial is None


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("ATTACH DATABASE 'x.db' AS x", "ATTACH is never allowed"),
        ("VACUUM INTO 'copy.db'", "ATTACH is never allowed"),
        ("SELECT load_extension('x')", "load_extension() is never allowed"),
        ("PRAGMA user_version = 3", "may be read but not set"),
        ("PRAGMA writable_schema = ON", "PRAGMA writable_schema is not allowed"),
        ("BEGIN", "Transaction control"),
        ("SAVEPOINT a", "SAVEPOINT and RELEASE"),
        ("WITH x AS (SELECT 1) DELETE FROM reviews", "only reads"),
        ("/* hi */ dElEtE FROM reviews", "only reads"),
        ("CREATE TEMP TABLE t (a)", "only reads"),
    ],
)
def test_denials_say_why(shop: Path, sql: str, reason: str) -> None:
    outcome, auth = run(shop, sql, Access.DDL, Purpose.READ)
    assert "authoriz" in outcome or "prohibited" in outcome
    assert auth.denial is not None and reason in auth.denial


def test_tiers_for_writes(shop: Path) -> None:
    dml = "UPDATE products SET in_stock = 1 WHERE id = 1"
    ddl = "CREATE TABLE notes (a)"
    assert "read-only" in (run(shop, dml, Access.READ, Purpose.WRITE)[1].denial or "")
    assert run(shop, dml, Access.DML, Purpose.WRITE)[0] == "ok"
    assert "--access ddl" in (run(shop, ddl, Access.DML, Purpose.WRITE)[1].denial or "")
    assert run(shop, ddl, Access.DDL, Purpose.WRITE)[0] == "ok"
    _, auth = run(shop, "DROP TABLE notes", Access.DDL, Purpose.CREATE_TABLE)
    assert "CREATE TABLE statements only" in (auth.denial or "")
