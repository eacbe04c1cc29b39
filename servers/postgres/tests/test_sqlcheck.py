"""The statement classifier on its own (no database): tiers, tricks a regex would miss, and its messages."""

from __future__ import annotations

import pytest

from patchbay_common.errors import AccessDenied, UserError
from patchbay_postgres.sqlcheck import check, column_refs, denied_function, tier_allows

READ_OK = [
    "SELECT 1",
    "select * from orders where note = 'COMMIT; DROP TABLE x'",
    "SELECT $$ ; DROP TABLE x; $$",
    "/* COMMIT; */ SELECT 1 -- ; DROP TABLE x",
    "WITH t AS (SELECT 1) SELECT * FROM t",
    "VALUES (1), (2)",
    "TABLE orders",
    "SHOW search_path",
    "EXPLAIN DELETE FROM orders",
    "EXPLAIN (ANALYZE false) DELETE FROM orders",
    "SELECT pg_sleep(0.1)",
    "SELECT 1;",
]


@pytest.mark.parametrize("sql", READ_OK)
def test_read_statements_pass(sql: str) -> None:
    assert check(sql, "read").needs == "read"


@pytest.mark.parametrize(
    ("sql", "needs"),
    [
        ("INSERT INTO t VALUES (1)", "dml"),
        ("UPDATE t SET x = 1", "dml"),
        ("DELETE FROM t", "dml"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "dml"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "dml"),
        ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", "dml"),
        ("EXPLAIN ANALYZE UPDATE t SET x = 1", "dml"),
        ("EXPLAIN (ANALYZE 1) DELETE FROM t", "dml"),
        ("CREATE TABLE t (x int)", "ddl"),
        ("SELECT * INTO t2 FROM t", "ddl"),
        ("CREATE MATERIALIZED VIEW m AS SELECT 1", "ddl"),
        ("ALTER TABLE t ADD COLUMN y int", "ddl"),
        ("COMMENT ON TABLE t IS 'x'", "ddl"),
        ("DROP EXTENSION dblink", "unrestricted"),
        ("COPY t TO STDOUT", "unrestricted"),
        ("BEGIN", "unrestricted"),
        ("SAVEPOINT s", "unrestricted"),
        ("CREATE DATABASE x", "unrestricted"),
        ("GRANT admin TO bob", "unrestricted"),
        ("CHECKPOINT", "unrestricted"),
    ],
)
def test_tiers(sql: str, needs: str) -> None:
    assert check(sql, "unrestricted").needs == needs
    tiers = ["read", "dml", "ddl", "unrestricted"]
    for tier in tiers:
        if tier_allows(tier, needs):  # type: ignore[arg-type]
            check(sql, tier)  # type: ignore[arg-type]
        else:
            with pytest.raises(AccessDenied, match=f"--access {needs}"):
                check(sql, tier)  # type: ignore[arg-type]


def test_denied_functions_at_every_tier_below_unrestricted() -> None:
    for tier in ("read", "dml", "ddl"):
        with pytest.raises(AccessDenied, match=r"pg_read_file\(\) is not allowed"):
            check("SELECT pg_read_file('/etc/passwd')", tier)  # type: ignore[arg-type]
        if tier != "read":
            with pytest.raises(AccessDenied, match=r"lo_import\(\) is not allowed"):
                check("INSERT INTO t SELECT lo_import('/etc/passwd')", tier)  # type: ignore[arg-type]
    assert check("SELECT pg_read_file('/etc/passwd')", "unrestricted").needs == "read"
    assert (
        denied_function("PG_LS_WALDIR")
        and denied_function("dblink_connect_u")
        and denied_function("lo_unlink")
    )
    assert denied_function("count") is None and denied_function("pg_size_pretty") is None


def test_messages_for_empty_unparsable_and_stacked_sql() -> None:
    with pytest.raises(UserError, match="No SQL was given"):
        check("   ", "read")
    with pytest.raises(UserError, match="only comments or semicolons"):
        check("-- nothing\n;", "read")
    with pytest.raises(UserError, match=r"does not parse: syntax error at or near \"t\" \(line 2, column 8"):
        check("SELECT 1\n  FORM t", "read")
    with pytest.raises(AccessDenied, match="holds 3 statements"):
        check("SELECT 1; SELECT 2; SELECT 3", "unrestricted")


def test_column_refs_for_index_advice() -> None:
    refs = column_refs(
        "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status IN ('a', 'b') AND o.total BETWEEN 1 AND 5 ORDER BY o.created"
    )
    assert refs.tables == {"o": "orders", "c": "customers"}
    assert ("o", "status") in refs.equality and ("o", "customer_id") in refs.equality
    assert ("o", "total") in refs.ranges and refs.ordering == [("o", "created")]
