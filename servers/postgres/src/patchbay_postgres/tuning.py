"""Query tuning and health: top statements (pg_stat_statements), a health report, and index advice (hypopg).

Both extensions are optional. When one is missing the tool says so, says why it matters and how an
administrator adds it; index advice still lists the candidate columns it read from the query's parse tree.
Hypothetical indexes live only in this backend's memory, are created inside a read-only transaction that
is rolled back, and are dropped before the connection goes back to the pool.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from patchbay_common.errors import Partial, UserError, redact
from patchbay_common.limits import human_size
from patchbay_postgres import sqlcheck
from patchbay_postgres.execute import Limits, _begin, _end, bind, pg_error

__all__ = ["IndexAdvice", "db_health", "suggest_indexes", "top_queries"]

OrderBy = Literal["total_time", "mean_time", "calls", "rows"]
_ORDER_COLUMN = {
    "total_time": "total_exec_time",
    "mean_time": "mean_exec_time",
    "calls": "calls",
    "rows": "rows",
}


async def _extension(connection: Any, name: str) -> tuple[str | None, bool]:
    """(installed version in this database or None, whether the server has it available at all)."""
    row = await connection.fetchrow(
        """
        SELECT (SELECT extversion FROM pg_extension WHERE extname = $1) AS installed,
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1) AS available
        """,
        name,
    )
    return row["installed"], bool(row["available"])


async def top_queries(connection: Any, database: str, order_by: OrderBy, limit: int) -> list[dict[str, Any]]:
    """The statements that cost most in this database, from pg_stat_statements.

    Raises:
        UserError: the extension is not installed here, or it is installed but not preloaded.
    """
    import asyncpg

    installed, available = await _extension(connection, "pg_stat_statements")
    if installed is None:
        how = (
            "The server has the extension; an administrator adds shared_preload_libraries = "
            "'pg_stat_statements' to postgresql.conf, restarts PostgreSQL, then runs CREATE EXTENSION "
            "pg_stat_statements in this database."
            if available
            else "The server does not ship it: an administrator installs the PostgreSQL contrib package "
            "(Debian: postgresql-contrib), preloads it (shared_preload_libraries) and runs CREATE EXTENSION "
            "pg_stat_statements."
        )
        raise UserError(
            f"pg_stat_statements is not installed in database {database!r}, so there are no query "
            "statistics to rank.",
            hint=f"{how} Until then, explain_query shows the plan of one query you already suspect.",
        )
    column = _ORDER_COLUMN[order_by]
    try:
        async with connection.transaction(readonly=True):
            rows = await connection.fetch(
                f"""
                SELECT queryid::text AS query_id, calls, round(total_exec_time::numeric, 2) AS total_ms,
                       round(mean_exec_time::numeric, 3) AS mean_ms, rows,
                       round(100.0 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0), 1)
                           AS cache_hit_pct,
                       left(query, 2000) AS query
                FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY {column} DESC NULLS LAST LIMIT $1
                """,  # noqa: S608 - only constants are interpolated
                limit,
            )
    except asyncpg.exceptions.ObjectNotInPrerequisiteStateError as exc:
        raise UserError(
            f"pg_stat_statements is installed in database {database!r} but not loaded: {exc}.",
            hint="An administrator adds shared_preload_libraries = 'pg_stat_statements' to "
            "postgresql.conf and restarts PostgreSQL; statistics gather from then on.",
        ) from None
    return [dict(r) for r in rows]


# --- health ---------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One line of the health report."""

    area: str
    level: Literal["ok", "warning", "info"]
    text: str


_HEALTH_CHECKS: dict[str, str] = {
    "connections": """
        SELECT count(*) AS used, current_setting('max_connections')::int AS max,
               count(*) FILTER (WHERE state = 'active') AS active,
               count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_transaction,
               coalesce(max(extract(epoch FROM now() - xact_start)) FILTER (WHERE state <> 'idle'), 0)::int
                   AS longest_transaction_s
        FROM pg_stat_activity WHERE backend_type = 'client backend'
    """,
    "cache": """
        SELECT sum(blks_hit) AS hit, sum(blks_read) AS read
        FROM pg_stat_database WHERE datname = current_database()
    """,
    "vacuum": """
        SELECT schemaname || '.' || relname AS "table", n_dead_tup AS dead, n_live_tup AS live,
               greatest(last_autovacuum, last_vacuum) AS last_vacuum
        FROM pg_stat_user_tables
        WHERE n_dead_tup > 1000 AND n_dead_tup > 0.2 * greatest(n_live_tup, 1)
        ORDER BY n_dead_tup DESC LIMIT 10
    """,
    "wraparound": """
        SELECT datname AS database, age(datfrozenxid) AS age,
               current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
        FROM pg_database WHERE datallowconn ORDER BY age(datfrozenxid) DESC LIMIT 5
    """,
    "unused_indexes": """
        SELECT s.schemaname || '.' || s.indexrelname AS index, s.relname AS "table",
               pg_relation_size(s.indexrelid) AS bytes
        FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
        ORDER BY bytes DESC LIMIT 10
    """,
    "duplicate_indexes": """
        SELECT indrelid::regclass::text AS "table",
               array_agg(indexrelid::regclass::text ORDER BY indexrelid) AS indexes,
               pg_get_indexdef(min(indexrelid)) AS definition
        FROM pg_index
        GROUP BY indrelid, indkey::text, indclass::text, coalesce(pg_get_expr(indexprs, indrelid), ''),
                 coalesce(pg_get_expr(indpred, indrelid), '')
        HAVING count(*) > 1 LIMIT 10
    """,
    "invalid_indexes": """
        SELECT indexrelid::regclass::text AS index FROM pg_index WHERE NOT indisvalid LIMIT 10
    """,
    "index_bloat": """
        WITH idx AS (
            SELECT i.indexrelid, c.relname, n.nspname, c.relpages::bigint AS pages,
                   greatest(c.reltuples, 0) AS tuples,
                   (SELECT coalesce(sum(s.avg_width), 8) FROM pg_attribute a
                      JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                                     AND s.attname = a.attname
                    WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) AS key_width
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
            WHERE am.amname = 'btree' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND c.relpages > 128
        )
        SELECT nspname || '.' || relname AS index, pages * current_setting('block_size')::int AS bytes,
               round(100 * (1 - least(1, (tuples * (key_width + 12) / 0.9)
                                          / (pages::numeric * current_setting('block_size')::int))))::int
                   AS bloat_pct
        FROM idx ORDER BY bloat_pct DESC LIMIT 10
    """,
    "replication": """
        SELECT pg_is_in_recovery() AS replica,
               CASE WHEN pg_is_in_recovery()
                    THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS replay_lag_s,
               (SELECT json_agg(json_build_object('client', client_addr::text, 'state', state,
                                                  'replay_lag', replay_lag::text))
                FROM pg_stat_replication) AS standbys
    """,
}


def _judge(area: str, rows: list[Any]) -> list[Finding]:
    """Turn one check's rows into findings."""
    found: list[Finding] = []
    if area == "connections":
        r = rows[0]
        pct = 100 * r["used"] / max(r["max"], 1)
        level: Literal["ok", "warning", "info"] = "warning" if pct > 80 or r["idle_in_transaction"] else "ok"
        found.append(
            Finding(
                area,
                level,
                f"{r['used']} of {r['max']} connections in use ({pct:.0f}%), {r['active']} active, "
                f"{r['idle_in_transaction']} idle in transaction, "
                f"longest open transaction {r['longest_transaction_s']} s",
            )
        )
    elif area == "cache":
        hit, read = int(rows[0]["hit"] or 0), int(rows[0]["read"] or 0)
        if hit + read == 0:
            found.append(Finding(area, "info", "no block reads recorded yet"))
        else:
            ratio = 100 * hit / (hit + read)
            found.append(
                Finding(
                    area,
                    "warning" if ratio < 95 and hit + read > 10_000 else "ok",
                    f"cache hit ratio {ratio:.1f}% ({hit} hits, {read} reads)",
                )
            )
    elif area == "vacuum":
        if not rows:
            found.append(Finding(area, "ok", "no table has more than 20% dead rows"))
        for r in rows:
            found.append(
                Finding(
                    area,
                    "warning",
                    f"{r['table']}: {r['dead']} dead rows vs {r['live']} live; "
                    f"last vacuum {r['last_vacuum']}",
                )
            )
    elif area == "wraparound":
        for r in rows:
            pct = 100 * r["age"] / max(r["freeze_max_age"], 1)
            found.append(
                Finding(
                    area,
                    "warning" if pct > 50 else "ok",
                    f"{r['database']}: transaction ID age {r['age']} "
                    f"({pct:.0f}% of autovacuum_freeze_max_age)",
                )
            )
    elif area == "unused_indexes":
        if not rows:
            found.append(
                Finding(area, "ok", "every non-unique index has been scanned since statistics were reset")
            )
        for r in rows:
            found.append(
                Finding(
                    area, "warning", f"{r['index']} on {r['table']} never scanned ({human_size(r['bytes'])})"
                )
            )
    elif area == "duplicate_indexes":
        if not rows:
            found.append(Finding(area, "ok", "no duplicate indexes"))
        for r in rows:
            found.append(
                Finding(
                    area,
                    "warning",
                    f"{r['table']}: {', '.join(r['indexes'])} are identical ({r['definition']})",
                )
            )
    elif area == "invalid_indexes":
        if not rows:
            found.append(Finding(area, "ok", "no invalid indexes"))
        for r in rows:
            found.append(
                Finding(area, "warning", f"{r['index']} is invalid (a failed CREATE INDEX CONCURRENTLY?)")
            )
    elif area == "index_bloat":
        bloated = [r for r in rows if (r["bloat_pct"] or 0) >= 40]
        if not bloated:
            found.append(
                Finding(area, "ok", "no btree index over 1 MB looks more than 40% bloated (estimate)")
            )
        for r in bloated:
            found.append(
                Finding(
                    area,
                    "warning",
                    f"{r['index']}: ~{r['bloat_pct']}% bloat of {human_size(r['bytes'])} (estimate)",
                )
            )
    elif area == "replication":
        r = rows[0]
        if r["replica"]:
            lag = r["replay_lag_s"]
            found.append(
                Finding(
                    area,
                    "warning" if lag and lag > 60 else "ok",
                    f"this is a replica; replay lag {lag or 0:.0f} s",
                )
            )
        else:
            standbys = json.loads(r["standbys"]) if isinstance(r["standbys"], str) else r["standbys"]
            text = f"primary with {len(standbys or [])} standby(s)"
            if standbys:
                text += ": " + "; ".join(
                    f"{s['client']} {s['state']} lag {s['replay_lag']}" for s in standbys
                )
            found.append(Finding(area, "info", text))
    return found


async def db_health(connection: Any) -> Partial[Finding]:
    """Run every health check on its own; a check that fails (privileges) is reported, the rest stand."""
    report: Partial[Finding] = Partial()
    for area, sql in _HEALTH_CHECKS.items():
        try:
            async with connection.transaction(readonly=True):
                rows = await connection.fetch(sql)
            report.extend(_judge(area, list(rows)))
        except Exception as exc:
            if not hasattr(exc, "sqlstate"):
                raise
            report.fail(area, redact(str(exc)))
    return report


# --- index advice ---------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One hypothetical index and what it did to the plan."""

    table: str
    columns: list[str]
    cost: float | None = None
    used: bool = False

    @property
    def ddl(self) -> str:
        """The CREATE INDEX statement for it."""
        cols = ", ".join(_quote(c) for c in self.columns)
        return f"CREATE INDEX ON {self.table} ({cols})"


@dataclass
class IndexAdvice:
    """The query's cost now, and the hypothetical indexes that lower it."""

    baseline_cost: float | None
    candidates: list[Candidate] = field(default_factory=list)
    hypopg: bool = True

    def helpful(self, threshold: float = 0.1) -> list[Candidate]:
        """Candidates the planner used and that cut the cost by at least `threshold`, best first."""
        if self.baseline_cost is None:
            return []
        base = self.baseline_cost
        good = [
            c for c in self.candidates if c.used and c.cost is not None and c.cost <= base * (1 - threshold)
        ]
        return sorted(good, key=lambda c: (c.cost, len(c.columns)))


def _quote(identifier: str) -> str:
    return (
        identifier
        if identifier.isidentifier() and identifier.islower()
        else '"' + identifier.replace('"', '""') + '"'
    )


async def _candidates(connection: Any, sql: str | sqlcheck.Checked) -> list[Candidate]:
    """Index candidates from the query's WHERE, JOIN and ORDER BY columns, minus existing leading columns."""
    refs = await sqlcheck.column_refs_async(sql)
    tables: dict[str, tuple[int, str, set[str], set[str]]] = {}
    for alias, name in refs.tables.items():
        row = await connection.fetchrow(
            """
            SELECT c.oid::int AS oid, c.oid::regclass::text AS qualified,
                   ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0
                         AND NOT attisdropped) AS columns,
                   ARRAY(SELECT a.attname FROM pg_index i JOIN pg_attribute a
                           ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                         WHERE i.indrelid = c.oid) AS leading
            FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r','p','m')
            """,
            name,
        )
        if row is not None:
            tables[alias] = (row["oid"], row["qualified"], set(row["columns"]), set(row["leading"]))

    def owner(alias: str | None, column: str) -> str | None:
        if alias is not None:
            return alias if alias in tables and column in tables[alias][2] else None
        holders = [a for a, t in tables.items() if column in t[2]]
        return holders[0] if len(holders) == 1 else None

    per_table: dict[str, dict[str, list[str]]] = {}
    for group, refs_list in (("eq", refs.equality), ("range", refs.ranges), ("order", refs.ordering)):
        for ref_alias, column in refs_list:
            table_alias = owner(ref_alias, column)
            if table_alias is None:
                continue
            bucket = per_table.setdefault(table_alias, {"eq": [], "range": [], "order": []})[group]
            if column not in bucket:
                bucket.append(column)
    out: list[Candidate] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for alias, groups in per_table.items():
        _, qualified, _, leading = tables[alias]
        singles = [c for c in groups["eq"] + groups["range"] + groups["order"] if c not in leading]
        combos: list[list[str]] = [[c] for c in singles]
        tail = (groups["range"] + groups["order"])[:1]
        if groups["eq"] and (len(groups["eq"]) > 1 or tail):
            combos.append((groups["eq"][:2] + [c for c in tail if c not in groups["eq"]])[:3])
        for columns in combos:
            key = (qualified, tuple(columns))
            if key not in seen:
                seen.add(key)
                out.append(Candidate(qualified, columns))
    return out[:12]


def _plan_cost(plan_json: Any) -> tuple[float, str]:
    data = json.loads(plan_json) if isinstance(plan_json, str) else plan_json
    plan = data[0]["Plan"]
    return float(plan["Total Cost"]), json.dumps(data)


async def suggest_indexes(
    connection: Any, database: str, checked: sqlcheck.Checked, params: list[Any], limits: Limits
) -> IndexAdvice:
    """Cost the query with each candidate index created hypothetically (hypopg), inside a rolled-back txn.

    Raises:
        UserError: hypopg is not installed here (the message lists the candidates it would have tried).
    """
    installed, available = await _extension(connection, "hypopg")
    if installed is None:
        candidates = await _candidates(connection, checked)
        listed = "; ".join(c.ddl for c in candidates) or "none found (no filtered, joined or sorted column)"
        how = (
            "The server has it: an administrator runs CREATE EXTENSION hypopg in this database."
            if available
            else "An administrator installs it (Debian: apt-get install postgresql-15-hypopg) and runs "
            "CREATE EXTENSION hypopg in this database."
        )
        raise UserError(
            f"hypopg is not installed in database {database!r}, so candidate indexes cannot be costed "
            f"without building them. Candidates read from the query: {listed}.",
            hint=f"{how} Meanwhile explain_query shows the current plan.",
        )
    advice = IndexAdvice(baseline_cost=None)
    await connection.execute(_begin(True, limits))
    explain_sql = f"EXPLAIN (FORMAT JSON) {checked.sql}"
    try:
        statement = await connection.prepare(explain_sql)
        args = bind(statement, params)
        advice.baseline_cost, _ = _plan_cost(await statement.fetchval(*args))
        advice.candidates = await _candidates(connection, checked)
        for candidate in advice.candidates:
            row = await connection.fetchrow(
                "SELECT indexrelid, indexname FROM hypopg_create_index($1)", candidate.ddl
            )
            try:
                statement = await connection.prepare(explain_sql)
                candidate.cost, plan = _plan_cost(await statement.fetchval(*args))
                candidate.used = row["indexname"] in plan
            finally:
                await connection.execute(f"SELECT hypopg_drop_index({int(row['indexrelid'])})")
    except UserError:
        raise
    except Exception as exc:
        raise pg_error(exc, explain_sql, what="Index advice") from None
    finally:
        await _end(connection, commit=False)
        with contextlib.suppress(Exception):
            await connection.execute("SELECT hypopg_reset()")
    return advice
