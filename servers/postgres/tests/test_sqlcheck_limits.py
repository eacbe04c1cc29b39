"""The parser's own limits: a text too long, or nested too deeply for pglast, is refused before pglast runs.

pglast builds its tree recursively and crashes the process (SIGSEGV) on some 25,000 levels; these run in the
test process itself, so a regression fails the whole run, not just a test.
"""

from __future__ import annotations

import time

import pytest

from patchbay_common.errors import UserError
from patchbay_postgres.sqlcheck import MAX_SQL_CHARS, check, column_refs


def _sum(terms: int) -> str:
    return "SELECT " + "+".join("1" for _ in range(terms))


@pytest.mark.parametrize("terms", [25_000, 40_000])
def test_deep_expressions_are_refused_without_crashing(terms: int) -> None:
    for parse in (lambda sql: check(sql, "read"), column_refs):
        with pytest.raises(UserError, match="nests too deeply"):
            parse(_sum(terms))


def test_long_texts_are_refused_before_parsing() -> None:
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"characters long; this server parses at most 100,000"):
        check("SELECT 1 /* " + "x" * MAX_SQL_CHARS + " */", "read")
    assert time.perf_counter() - started < 0.1


def test_what_real_queries_need_still_parses() -> None:
    assert check(_sum(1_500), "read").needs == "read"  # a long sum, 3,000 characters
    in_list = "SELECT id FROM orders WHERE id IN (" + ", ".join(str(i) for i in range(12_000)) + ")"  # noqa: S608
    assert check(in_list, "read").label == "SELECT"
    nested = "SELECT " + "(" * 1_000 + "1" + ")" * 1_000  # parentheses add no depth to the tree
    assert check(nested, "read").needs == "read"
    with pytest.raises(UserError, match="pg_read_file"):  # the long path still walks every node
        check(in_list + " AND pg_read_file('x') IS NOT NULL", "read")
