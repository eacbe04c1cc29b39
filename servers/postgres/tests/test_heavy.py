"""Every tool that does CPU- or memory-heavy work on SQL a model chooses, fed pathological SQL.

One real server process (streamable HTTP, `--statement-timeout 4`, `--tool-timeout 8`, under a 4 GiB
address-space limit) on the module's database. For each call, in both protocol eras:

- the answer comes by the deadline (the statement timeout, plus slack for a shared machine) with a clear
  text, and the server is still alive afterwards (a parser crash would take it down);
- the server's peak memory during the call (VmHWM, reset before it) stays within a bound: one huge value,
  rows of huge values, a huge array, a billion rows;
- small calls (a one-row query) made while it runs answer within 300 ms: the event loop is never blocked,
  also not by parsing a monstrous statement.
"""

# ruff: noqa: S608 - the SQL below is built from numbers
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, HttpServer, Launch, connect, http_server
from patchbay_common.testing.heavy import Outcome, measure_heavy_call

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

STATEMENT_TIMEOUT = 4.0  # the aggregates below take 1.5 s on a loaded machine
TOOL_TIMEOUT = 8.0
ANSWER_BY = STATEMENT_TIMEOUT + 3.0  # the deadline, plus slack for a loaded machine (and a parse)
PING_WITHIN = 0.3
MEMORY_LIMIT = 4 << 30  # the server's address space: a runaway read fails instead of eating the machine
EXTRA_MIB = 80  # how far the peak RSS may rise above its level before the call

_LIMITED = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1]))); "
    "os.execv(sys.executable, [sys.executable, '-m', 'patchbay_postgres', *sys.argv[2:]])"
)


@pytest.fixture(scope="module")
def running(pgdb) -> Iterator[HttpServer]:
    args = [
        "-c", _LIMITED, str(MEMORY_LIMIT), "--dsn", f"shop={pgdb.reader_dsn}",
        "--statement-timeout", str(STATEMENT_TIMEOUT), "--tool-timeout", str(TOOL_TIMEOUT),
    ]  # fmt: skip
    with http_server(Launch(sys.executable, args)) as server:
        yield server


async def _small_call(client: Any) -> None:
    result = await client.call_tool("query", {"sql": "SELECT 1 AS one"})
    assert not result.is_error, result.content


async def _measure(client: Any, server: HttpServer, tool: str, arguments: dict[str, Any]) -> Outcome:
    return await measure_heavy_call(client, server.process.pid, tool, arguments, _small_call, ANSWER_BY)


IN_LIST = "SELECT count(*) FROM orders WHERE id IN (" + ", ".join(str(i) for i in range(1, 14_000)) + ")"
DEEP = "SELECT " + "+".join("1" for _ in range(30_000))  # 60k characters, 30k levels deep
HUGE = "SELECT 1 WHERE 1 IN (" + ",".join("1" for _ in range(150_000)) + ")"  # 300k characters

# (tool, arguments, whether an isError answer is expected, texts the answer holds)
CASES: dict[str, tuple[str, dict[str, Any], bool, tuple[str, ...]]] = {
    "CPU-bound query": (
        "query",
        {"sql": "SELECT count(*) FROM generate_series(1, 10000000000)"},
        True,
        ("57014", "cancelled after running too long"),
    ),
    "sleeping query": ("query", {"sql": "SELECT pg_sleep(60)"}, True, ("57014",)),
    "400 million rows": (
        "query",
        {"sql": "SELECT a.id, md5(b.id::text) FROM orders AS a CROSS JOIN orders AS b"},
        False,
        ("[truncated: showing rows 1-", "read_more_rows with cursor="),
    ),
    "one 50 MB value": (
        "query",
        {"sql": "SELECT repeat('x', 50000000) AS big, 7 AS n"},
        False,
        ("...(+49998000 chars)", '"n": 7', "long value(s) were cut"),
    ),
    "rows of 5 MB values": (
        "query",
        {"sql": "SELECT g, repeat('y', 5000000) AS big FROM generate_series(1, 1000) AS g"},
        False,
        ("long value(s) were cut",),
    ),
    "a 2-million-element array": (
        "query",
        {"sql": "SELECT array_agg(g) AS a, 1 AS n FROM generate_series(1, 2000000) AS g"},
        False,
        ("bytes in all)", '"n": 1', "long value(s) were cut"),
    ),
    "a 10 MB jsonb document": (
        "query",
        {"sql": "SELECT jsonb_agg(g) AS doc FROM generate_series(1, 1000000) AS g"},
        False,
        ("long value(s) were cut",),
    ),
    "EXPLAIN ANALYZE of a CPU-bound query": (
        "explain_query",
        {"sql": "SELECT count(*) FROM generate_series(1, 10000000000)", "analyze": True},
        True,
        ("57014",),
    ),
    "EXPLAIN of a 14,000-item IN list": ("explain_query", {"sql": IN_LIST}, False, ("Aggregate",)),
    "query with a 14,000-item IN list": ("query", {"sql": IN_LIST}, False, ('"count": 13999',)),
    "EXPLAIN of a 30,000-level expression": ("explain_query", {"sql": DEEP}, True, ("nests too deeply",)),
    "EXPLAIN of 300,000 characters": ("explain_query", {"sql": HUGE}, True, ("characters",)),
    "index advice on a 14,000-item IN list": ("suggest_indexes", {"sql": IN_LIST}, True, ("hypopg",)),
}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("case", list(CASES))
async def test_heavy_sql_ends_by_its_deadline_in_bounded_memory(running, era, case) -> None:
    tool, arguments, is_error, expected = CASES[case]
    async with connect(running, era=era) as client:
        outcome = await _measure(client, running, tool, arguments)
        await _small_call(client)  # still alive
    assert running.process.poll() is None, f"{case}: the server died"
    assert outcome.seconds < ANSWER_BY, (
        f"{case}: answered after {outcome.seconds:.1f} s: {outcome.text[:300]}"
    )
    assert outcome.is_error == is_error, f"{case}: {outcome.text[:500]}"
    for phrase in expected:
        assert phrase in outcome.text, f"{case}: {phrase!r} not in {outcome.text[:800]}"
    assert "internal error" not in outcome.text, outcome.text[:300]
    assert outcome.peak_rise_mib < EXTRA_MIB, f"{case}: memory rose by {outcome.peak_rise_mib:.0f} MiB"
    slow = sorted(round(p, 3) for p in outcome.pings if p > PING_WITHIN)
    # one outlier up to a second is the shared machine's noise; a blocked event loop takes seconds
    assert not slow or (len(slow) == 1 and slow[0] < 1.0), (
        f"{case}: small calls took {slow} s while the call ran ({outcome.seconds:.1f} s)"
    )
