"""The tuning toolset: the most expensive statements, a health report, index advice, and replica lag.

Statement texts (pg_stat_statements holds what every client ran), object names and index DDL built from
them are database content: the layer frames them (`untrusted=`). What failed, and how many candidates were
tried, are our own words after the frame.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field

from patchbay_common.limits import truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_postgres import sqlcheck, tuning
from patchbay_postgres.deps import DatabaseArg, Deps, ParamsArg, SqlArg
from patchbay_postgres.render import fit_lines, record_lines

__all__ = ["tools"]

tools = Toolset("tuning", "Find expensive statements, check a database's health, and cost candidate indexes.")


@tools.tool(untrusted="query statistics", title="Top queries")
async def top_queries(
    deps: Deps,
    order_by: Annotated[
        tuning.OrderBy, Field(description="Rank by total time, mean time, calls or rows.")
    ] = "total_time",
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
    database: DatabaseArg = None,
) -> Reply:
    """Return the statements that cost most in this database, from pg_stat_statements.

    Calls, total and mean time, rows and cache hit ratio; or, when the extension is not available, what
    is missing and how to add it.
    """
    db = deps.databases.get(database)
    async with db.connection() as connection:
        rows = await tuning.top_queries(connection, db.name, order_by, limit)
    if not rows:
        return Reply("", note="No statements recorded yet.")
    lines = record_lines(rows)
    kept = fit_lines(lines, deps.text_budget)
    note = ""
    if kept < len(lines):
        note = truncation_marker(
            f"the top {kept} of {len(lines)} statements", f"call again with limit={kept}"
        )
    return Reply("\n".join(lines[:kept]), note=note, source=f"postgres://{db.name} pg_stat_statements")


@tools.tool(untrusted="health report", title="Database health")
async def db_health(deps: Deps, database: DatabaseArg = None) -> Reply:
    """Report the health of a database, one line per finding (ok, warning or info).

    Connection use, cache hit ratio, tables needing vacuum, transaction ID wraparound, unused, duplicate,
    invalid and bloated indexes, and replication state.
    """
    db = deps.databases.get(database)
    async with db.connection() as connection:
        report = await tuning.db_health(connection)
    lines = [f"{f.level.upper():7} {f.area}: {f.text}" for f in report.items]
    return Reply("\n".join(lines), note=report.note(), source=f"postgres://{db.name} health")


@tools.tool(untrusted="index advice", title="Suggest indexes")
async def suggest_indexes(
    deps: Deps,
    sql: SqlArg,
    params: ParamsArg = [],  # noqa: B006 - pydantic copies defaults
    database: DatabaseArg = None,
) -> Reply:
    """Return the indexes that would lower the planner's cost for a read query.

    Measured with hypothetical indexes (hypopg), not built; without hypopg, the text says so and lists
    the candidate columns.
    """
    checked = await sqlcheck.check_async(sql, "read")
    db = deps.databases.get(database)
    async with db.connection() as connection:
        advice = await tuning.suggest_indexes(connection, db.name, checked, params, deps.limits)
    helpful = advice.helpful()
    lines = []
    for candidate in helpful:
        cost = candidate.cost or 0.0
        saving = 100 * (1 - cost / advice.baseline_cost) if advice.baseline_cost else 0.0
        lines.append(f"{candidate.ddl};  -- cost {cost:.2f} ({saving:.0f}% lower)")
    note = [f"Estimated cost now: {advice.baseline_cost:.2f}"]
    if not helpful:
        note.append(
            f"No single hypothetical index lowered the cost by 10% or more ({len(advice.candidates)} tried)."
        )
    return Reply("\n".join(lines), note="\n".join(note), source=f"postgres://{db.name} index advice")


@tools.tool(untrusted="replica status", title="Replica lag")
async def replica_status(deps: Deps, database: DatabaseArg = None) -> Reply:
    """Say how far a database's read replica (--replica-dsn) is behind the primary, and where reads go.

    Bytes of WAL not yet replayed, seconds behind, whether replay is paused, and the reason reads go to
    the replica or the primary (--max-replica-lag).
    """
    db = deps.databases.get(database)
    if db.replica is None:
        data = {"database": db.name, "replica": None, "reads_go_to": "primary"}
        return Reply(
            json.dumps(data),
            note=f"Database {db.name!r} has no replica: every call runs on it (--replica-dsn adds one).",
            structured=data,
        )
    status = await db.replica.status(fresh=True)
    data = {"database": db.name, **status.as_dict(db.replica.max_lag, db.replica.where)}
    return Reply(
        json.dumps(data), note=f"Reads go to the {data['reads_go_to']}: {data['why']}.", structured=data
    )
