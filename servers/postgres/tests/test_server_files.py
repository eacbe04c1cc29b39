"""Server configuration and other server files, through every name a statement can give them, in every tier.

A superuser can read postgresql.conf, pg_hba.conf and pg_ident.conf through the views `pg_file_settings`,
`pg_hba_file_rules`, `pg_ident_file_mappings` and the functions behind them, and any file through
`pg_read_file` and its siblings (`pg_read_file_old` too). Each is refused below --access unrestricted,
schema-qualified, quoted, in capitals, Unicode-escaped, in a subquery or a CTE; a control at --access
unrestricted shows the superuser really reads them, so the refusals are this server's doing.
"""

# ruff: noqa: S608 - the SQL is built from the names this file lists

from __future__ import annotations

import pytest
from pg_helpers import call, server

from patchbay_common.errors import AccessDenied
from patchbay_common.testing.clients import connect
from patchbay_postgres.sqlcheck import check

pytestmark = pytest.mark.anyio

CONFIG_VIEWS = ["pg_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings"]
FILE_FUNCTIONS = [
    ("pg_show_all_file_settings", ""),
    ("pg_hba_file_rules", ""),
    ("pg_ident_file_mappings", ""),
    ("pg_read_file_old", "'postgresql.conf', 0, 200"),
    ("pg_read_file", "'postgresql.conf'"),
    ("pg_read_binary_file", "'postgresql.conf'"),
    ("pg_stat_file", "'postgresql.conf'"),
    ("pg_current_logfile", ""),
    ("pg_ls_dir", "'.'"),
    ("pg_ls_logdir", ""),
    ("pg_ls_waldir", ""),
    ("pg_ls_tmpdir", ""),
    ("pg_ls_archive_statusdir", ""),
    ("pg_ls_logicalsnapdir", ""),
    ("pg_ls_logicalmapdir", ""),
    ("pg_ls_replslotdir", "'x'"),
]


def _escaped(name: str) -> str:
    """`name` as a Unicode-escaped identifier body, every underscore written as \\005f."""
    return name.replace("_", "\\005f")


def view_spellings(view: str) -> list[str]:
    return [
        f"SELECT * FROM {view}",
        f"SELECT * FROM pg_catalog.{view}",
        f'SELECT * FROM "pg_catalog"."{view}"',
        f"SELECT * FROM {view.upper()}",
        f"select * from PG_CATALOG.{view.upper()}",
        f"TABLE {view}",
        f'SELECT * FROM U&"{_escaped(view)}"',
        f"SELECT (SELECT count(*) FROM {view}) AS n",
        f"WITH x AS (SELECT * FROM {view}) SELECT * FROM x",
        f"SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM {view})",
        f"SELECT row_to_json(f) FROM /* a comment */ {view} AS f",
    ]


def function_spellings(function: str, args: str) -> list[str]:
    return [
        f"SELECT * FROM {function}({args})",
        f"SELECT pg_catalog.{function}({args})",
        f'SELECT "pg_catalog"."{function}"({args})',
        f'SELECT "{function}"({args})',
        f"SELECT {function.upper()}({args})",
        f'SELECT U&"{_escaped(function)}"({args})',
        f"SELECT count(*) FROM customers, LATERAL (SELECT {function}({args})) AS f",
    ]


ALL_SPELLINGS = [
    *[(view, sql) for view in CONFIG_VIEWS for sql in view_spellings(view)],
    *[(function, sql) for function, args in FILE_FUNCTIONS for sql in function_spellings(function, args)],
]


@pytest.mark.parametrize("tier", ["read", "dml", "ddl"])
def test_the_parser_refuses_every_spelling_in_every_tier(tier: str) -> None:
    for name, sql in ALL_SPELLINGS:
        with pytest.raises(AccessDenied, match=rf"{name}(\(\))? is not allowed") as refused:
            check(sql, tier)  # type: ignore[arg-type]
        assert "server" in str(refused.value), sql
        check(f"EXPLAIN {sql}", "unrestricted")  # unrestricted allows it: the operator's choice


async def test_a_superuser_dsn_reads_no_server_file_in_any_tier(pgdb) -> None:
    samples = [sql for _, sql in ALL_SPELLINGS[::3]] + [
        "SELECT * FROM pg_file_settings",
        "SELECT * FROM pg_hba_file_rules",
        "SELECT * FROM pg_show_all_file_settings()",
        "SELECT pg_read_file_old('postgresql.conf', 0, 200)",
    ]
    for tier, tool in [("read", "query"), ("dml", "execute_sql"), ("ddl", "execute_sql")]:
        async with connect(server("--dsn", pgdb.superuser_dsn, "--access", tier)) as client:
            for sql in samples:
                error, text, _ = await call(client, tool, sql=sql)
                assert error and "is not allowed" in text, (tier, sql, text)
                assert "listen_addresses" not in text and "trust" not in text
                error, text, _ = await call(client, "explain_query", sql=sql)
                assert error and "is not allowed" in text, (tier, sql, text)


async def test_control_a_superuser_reads_them_when_unrestricted(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "unrestricted")) as client:
        error, text, data = await call(
            client, "execute_sql", sql="SELECT count(*) AS n FROM pg_catalog.pg_file_settings"
        )
        assert not error and data["rows"][0][0] > 0, text
        error, text, data = await call(client, "execute_sql", sql="SELECT auth_method FROM pg_hba_file_rules")
        assert not error and ["trust"] in data["rows"], text
        error, text, data = await call(
            client, "execute_sql", sql="SELECT pg_read_file_old('postgresql.conf', 0, 200) AS head"
        )
        assert not error and "PostgreSQL configuration file" in text, text
