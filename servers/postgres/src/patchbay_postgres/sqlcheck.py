"""Decide, with PostgreSQL's own parser (pglast), whether one SQL text may run at an access tier.

The read tier's promise rests on three layers, and this module is the first: it parses the text with the
parser PostgreSQL itself uses (pglast embeds libpg_query), so no spelling trick that fools a regex
(comments, quoting, Unicode escapes, dollar quoting, nested CTEs) changes what it sees. It then:

- refuses more than one statement (the extended protocol refuses them as well: layer two);
- finds the tier the statement needs (read < dml < ddl < unrestricted) from its parse tree, including data
  changes hidden in CTEs, `SELECT ... INTO` and `FOR UPDATE`;
- refuses calls to functions that reach outside the database or outlive the transaction (server files,
  programs, large objects, dblink, advisory locks, `set_config`, backend signals, replication slots,
  statistics resets, and the functions that run a query given as text), and reads of the views that show the
  server's configuration files (`pg_file_settings`, `pg_hba_file_rules`, `pg_ident_file_mappings`), at
  every tier but unrestricted. Names are compared as the parser resolved them (schema-qualified, quoted,
  Unicode-escaped or in capitals alike).

Layer three is the engine: a `READ ONLY` transaction that is always rolled back, with statement and lock
timeouts (see `execute.py`). None of this replaces a least-privilege role, which the README explains.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from patchbay_common.errors import AccessDenied, UserError

__all__ = [
    "MAX_SQL_CHARS",
    "TIERS",
    "Checked",
    "Tier",
    "check",
    "check_async",
    "column_refs",
    "column_refs_async",
    "denied_function",
    "denied_relation",
    "destroys",
    "destroys_async",
    "tier_allows",
]

Tier = Literal["read", "dml", "ddl", "unrestricted"]
TIERS: tuple[Tier, ...] = ("read", "dml", "ddl", "unrestricted")


def tier_allows(tier: Tier, needed: Tier) -> bool:
    """Whether a server at `tier` may run a statement that needs `needed`."""
    return TIERS.index(tier) >= TIERS.index(needed)


# Functions refused below the unrestricted tier, by exact name or by prefix, with the reason a model reads.
_FILES = "reads or lists files on the database server"
_CONFIG_FILES = "reads the server's configuration files (postgresql.conf, pg_hba.conf, pg_ident.conf)"
_DENIED_EXACT: dict[str, str] = {
    "pg_current_logfile": _FILES,
    "pg_logdir_ls": _FILES,
    "pg_show_all_file_settings": _CONFIG_FILES,
    "pg_hba_file_rules": _CONFIG_FILES,
    "pg_ident_file_mappings": _CONFIG_FILES,
    "loread": "reads large objects, which live outside table data",
    "lowrite": "writes large objects, which live outside table data",
    "set_config": "changes server settings (it can turn the read-only guard off for the session)",
    "pg_terminate_backend": "ends other sessions",
    "pg_cancel_backend": "cancels other sessions' queries",
    "pg_reload_conf": "reloads the server configuration",
    "pg_promote": "promotes a standby server",
    "pg_switch_wal": "forces a WAL switch",
    "pg_create_restore_point": "writes to the WAL",
    "pg_start_backup": "starts a backup",
    "pg_stop_backup": "stops a backup",
    "pg_log_backend_memory_contexts": "writes to the server log",
    "pg_import_system_collations": "creates collations",
    "pg_notify": "sends notifications to other sessions",
    "query_to_xml": "runs a query given as text, which escapes inspection",
    "query_to_xmlschema": "runs a query given as text, which escapes inspection",
    "query_to_xml_and_xmlschema": "runs a query given as text, which escapes inspection",
    "cursor_to_xml": "reads from a cursor opened elsewhere",
    "cursor_to_xmlschema": "reads from a cursor opened elsewhere",
    "ts_stat": "runs a query given as text, which escapes inspection",
    "ts_rewrite": "can run a query given as text, which escapes inspection",
    "pg_stat_statements_reset": "resets server-wide statistics",
    "pg_drop_replication_slot": "drops a replication slot",
    "pg_replication_slot_advance": "moves a replication slot",
    "pg_nextoid": "consumes catalog OIDs",
}
_DENIED_PREFIX: tuple[tuple[str, str], ...] = (
    ("pg_ls_", _FILES),
    ("pg_read_file", _FILES),  # pg_read_file_old too (a superuser reads any file through it)
    ("pg_read_binary_file", _FILES),
    ("pg_stat_file", _FILES),
    ("pg_rotate_logfile", "rotates the server log"),
    ("pg_file_", "writes, renames or removes files on the database server"),
    ("lo_", "imports, exports or changes large objects (lo_import/lo_export touch server files)"),
    ("be_lo_", "changes large objects"),
    ("dblink", "connects to another database, where the read-only transaction does not hold"),
    ("pg_advisory", "takes advisory locks that can outlive the call"),
    ("pg_try_advisory", "takes advisory locks that can outlive the call"),
    ("pg_stat_reset", "resets server-wide statistics"),
    ("pg_backup_", "starts or stops a backup"),
    ("pg_wal_replay_", "pauses or resumes WAL replay"),
    ("pg_create_", "creates replication slots, which outlive the transaction"),
    ("pg_copy_", "copies replication slots"),
    ("pg_replication_origin", "changes replication origins"),
    ("pg_logical_", "reads or writes logical decoding streams"),
    ("binary_upgrade_", "is meant for pg_upgrade only"),
    ("hypopg", "changes this session's hypothetical indexes (the suggest_indexes tool uses them)"),
)

# Views (and tables) refused below unrestricted, by name in any schema: a superuser reads the server's
# configuration files through them.
_DENIED_RELATIONS: dict[str, str] = {
    "pg_file_settings": _CONFIG_FILES,
    "pg_hba_file_rules": _CONFIG_FILES,
    "pg_ident_file_mappings": _CONFIG_FILES,
}

_MODIFYING = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")

# Statement node -> (tier it needs, label shown to the model). Anything not listed needs unrestricted.
_DML_NODES: dict[str, str] = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
    "LockStmt": "LOCK",
}
_DDL_NODES: dict[str, str] = {
    "CreateStmt": "CREATE TABLE",
    "CreateTableAsStmt": "CREATE TABLE AS / CREATE MATERIALIZED VIEW",
    "AlterTableStmt": "ALTER",
    "DropStmt": "DROP",
    "TruncateStmt": "TRUNCATE",
    "IndexStmt": "CREATE INDEX",
    "ViewStmt": "CREATE VIEW",
    "CommentStmt": "COMMENT",
    "RenameStmt": "ALTER ... RENAME",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "AlterSeqStmt": "ALTER SEQUENCE",
    "CreateSchemaStmt": "CREATE SCHEMA",
    "CreateEnumStmt": "CREATE TYPE",
    "AlterEnumStmt": "ALTER TYPE",
    "CompositeTypeStmt": "CREATE TYPE",
    "CreateDomainStmt": "CREATE DOMAIN",
    "AlterDomainStmt": "ALTER DOMAIN",
    "DefineStmt": "CREATE (aggregate, operator or type)",
    "CreateFunctionStmt": "CREATE FUNCTION",
    "AlterFunctionStmt": "ALTER FUNCTION",
    "CreateTrigStmt": "CREATE TRIGGER",
    "RuleStmt": "CREATE RULE",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "AlterObjectSchemaStmt": "ALTER ... SET SCHEMA",
    "GrantStmt": "GRANT/REVOKE",
    "CreatePolicyStmt": "CREATE POLICY",
    "AlterPolicyStmt": "ALTER POLICY",
    "CreateStatsStmt": "CREATE STATISTICS",
    "ReindexStmt": "REINDEX",
    "ClusterStmt": "CLUSTER",
    "VacuumStmt": "VACUUM/ANALYZE",
}
# Why the most common unrestricted-only statements are refused, in words a model can act on.
_UNRESTRICTED_WHY: dict[str, tuple[str, str]] = {
    "TransactionStmt": (
        "Transaction control (BEGIN, COMMIT, ROLLBACK, SET TRANSACTION, SAVEPOINT)",
        "each call runs in its own transaction, which this server opens and ends itself",
    ),
    "CopyStmt": ("COPY", "it reads or writes server files and runs programs; use SELECT to read data"),
    "VariableSetStmt": ("SET/RESET", "it changes session settings, which the server fixes for each call"),
    "DoStmt": ("DO", "an anonymous code block runs arbitrary procedural code"),
    "CallStmt": ("CALL", "a procedure can run arbitrary statements, including transaction control"),
    "ListenStmt": ("LISTEN", "subscribe to the postgres://DATABASE/listen/CHANNEL resource instead"),
    "NotifyStmt": ("NOTIFY", "it signals other sessions"),
    "UnlistenStmt": ("UNLISTEN", "it changes session state"),
    "PrepareStmt": ("PREPARE", "pass parameters to the tool instead of preparing statements"),
    "ExecuteStmt": ("EXECUTE", "pass parameters to the tool instead of preparing statements"),
    "DeallocateStmt": ("DEALLOCATE", "it changes session state"),
    "DeclareCursorStmt": ("DECLARE CURSOR", "results are already paged; pass offset to read on"),
    "FetchStmt": ("FETCH/MOVE", "results are already paged; pass offset to read on"),
    "ClosePortalStmt": ("CLOSE", "it changes session state"),
    "DiscardStmt": ("DISCARD", "the server resets session state itself"),
    "LoadStmt": ("LOAD", "it loads a shared library into the server"),
    "AlterSystemStmt": ("ALTER SYSTEM", "it rewrites the server configuration"),
    "CreateExtensionStmt": (
        "CREATE EXTENSION",
        "extensions can add functions that reach outside the database",
    ),
    "CreateRoleStmt": ("CREATE ROLE", "roles and privileges are the operator's"),
    "AlterRoleStmt": ("ALTER ROLE", "roles and privileges are the operator's"),
    "AlterRoleSetStmt": ("ALTER ROLE ... SET", "roles and privileges are the operator's"),
    "DropRoleStmt": ("DROP ROLE", "roles and privileges are the operator's"),
    "GrantRoleStmt": ("GRANT role", "roles and privileges are the operator's"),
    "CreatedbStmt": ("CREATE DATABASE", "databases are the operator's"),
    "DropdbStmt": ("DROP DATABASE", "databases are the operator's"),
    "CheckPointStmt": ("CHECKPOINT", "it is a server maintenance command"),
}


@dataclass(frozen=True)
class Checked:
    """A statement that may run: the tier it needs, what kind it is, and EXPLAIN details."""

    sql: str
    needs: Tier
    label: str
    node: Any = field(repr=False, default=None)
    returns_rows: bool = True
    explain_analyze: bool = False
    body: str = field(repr=False, default="")  # the statement alone: no trailing semicolon or comment

    @property
    def statement(self) -> str:
        """The statement's own text (to embed it in another statement), or the whole text."""
        return self.body or self.sql


MAX_SQL_CHARS = 100_000
"""Characters of SQL this server parses for one call: more is refused before any parsing."""

_MAX_DEPTH = 4_000  # nesting of the parse tree as JSON (about two levels per level of expression)
_SMALL = 4_000  # characters: texts up to this are cached, checked inline, and cannot nest past _MAX_DEPTH
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RUN = re.compile(r"\{+|\}+")
_STRUCTURE_ONLY = {code: None for code in range(128) if chr(code) not in '"\\[]{}'}


def _json_depth(text: str) -> int:
    """How deeply the JSON `text` nests (brackets inside strings do not count), without recursion."""
    skeleton = _STRING.sub("", text.translate(_STRUCTURE_ONLY))  # quotes, backslashes and brackets only
    skeleton = skeleton.replace("[", "{").replace("]", "}")
    deepest = depth = 0
    for run in _RUN.findall(skeleton):
        depth += len(run) if run[0] == "{" else -len(run)
        deepest = max(deepest, depth)
    return deepest


def _too_deep(levels: int | None) -> UserError:
    about = f" (about {levels:,} levels of expressions)" if levels else ""
    return UserError(
        f"The SQL nests too deeply{about}; this server parses at most about {_MAX_DEPTH // 2:,}.",
        hint="Write a long chain of operators as an aggregate over a list, e.g. SELECT sum(x) FROM "
        "unnest(string_to_array($1, ',')::int[]) AS x, or split the statement.",
    )


def _parse_error(sql: str, exc: Any) -> UserError:
    location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
    where = _position_text(sql, location + 1) if location is not None else ""
    return UserError(
        f"The SQL does not parse: {exc.args[0]}{where}.",
        hint="Fix the syntax and call again (PostgreSQL 15 syntax).",
    )


def _parse(sql: str) -> Any:
    """The statements of `sql` as pglast nodes; a text too long or nested too deeply is refused first.

    pglast builds its Python tree recursively and crashes the whole process (SIGSEGV) on a tree some 25,000
    levels deep (`SELECT 1 + 1 + ... + 1`), so a long text is first parsed to JSON in C, which fails
    cleanly, and its depth is measured without recursion.
    """
    from pglast import parse_sql
    from pglast.parser import ParseError, parse_sql_json

    if len(sql) > MAX_SQL_CHARS:
        raise UserError(
            f"The SQL is {len(sql):,} characters long; this server parses at most {MAX_SQL_CHARS:,} for one "
            "statement.",
            hint="Pass a long list of values as one parameter, e.g. WHERE id = ANY(string_to_array($1, ',')"
            "::int[]) with params ['1,2,3'], or split the work.",
        )
    try:
        if len(sql) > _SMALL:
            depth = _json_depth(parse_sql_json(sql))
            if depth > _MAX_DEPTH:
                raise _too_deep(depth // 2)
        return parse_sql(sql)
    except ParseError as exc:
        if "stack depth limit exceeded" in str(exc.args[0] if exc.args else exc):
            raise _too_deep(None) from None
        raise _parse_error(sql, exc) from None


def _position_text(sql: str, position: int) -> str:
    """' at line L, column C: <line>' for a 1-based character position into `sql`."""
    before = sql[: max(0, position - 1)]
    line_no = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    line = sql.splitlines()[line_no - 1] if sql.splitlines() else sql
    return f" (line {line_no}, column {column}: {line.strip()[:200]!r})"


def denied_function(name: str) -> str | None:
    """Why a function (bare name, any case) is refused below unrestricted, or None if it is allowed."""
    lowered = name.lower()
    if lowered in _DENIED_EXACT:
        return _DENIED_EXACT[lowered]
    for prefix, why in _DENIED_PREFIX:
        if lowered.startswith(prefix):
            return why
    return None


def denied_relation(name: str) -> str | None:
    """Why reading a view or table (bare name, any case) is refused below unrestricted, or None."""
    return _DENIED_RELATIONS.get(name.lower())


def _node_names(tree: Any) -> tuple[list[str], list[str], list[str]]:
    """Every node type name, called function name and relation name (last components) in `tree`.

    An explicit stack over every slot of every node (what pglast's Visitor visits, at a tenth of its cost,
    and with no recursion however deep the tree).
    """
    from pglast import ast

    kinds: list[str] = []
    functions: list[str] = []
    relations: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            kinds.append(type(item).__name__)
            if isinstance(item, ast.FuncCall):
                parts = [getattr(p, "sval", "") for p in item.funcname or ()]
                if parts:
                    functions.append(parts[-1])
            elif isinstance(item, ast.RangeVar) and item.relname:
                relations.append(item.relname)
            for slot in item.__slots__:  # type: ignore[attr-defined]
                value = getattr(item, slot, None)
                if isinstance(value, ast.Node | tuple | list):
                    stack.append(value)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))
    return kinds, functions, relations


def _explain_analyze(node: Any) -> bool:
    """Whether EXPLAIN runs the statement; anything but a plain false value counts as yes (fail closed)."""
    for option in node.options or ():
        if option.defname == "analyze":
            arg = option.arg
            if arg is None:
                return True
            value = getattr(arg, "sval", None)
            if value is None:
                value = getattr(arg, "boolval", None)
            if value is None:
                value = getattr(getattr(arg, "val", None), "ival", None)
            if str(value).lower() not in ("false", "off", "no", "0"):
                return True
    return False


def _needs(node: Any) -> tuple[Tier, str, bool]:
    """(tier needed, label, returns rows) for one top-level statement node."""
    kind = type(node).__name__
    if kind == "SelectStmt":
        if node.intoClause is not None:
            return "ddl", "SELECT INTO (creates a table)", False
        kinds, _, _ = _node_names(node)
        if any(k in _MODIFYING for k in kinds):
            return "dml", "A data-changing statement inside WITH", True
        if node.lockingClause or any(k == "LockingClause" for k in kinds):
            return "dml", "SELECT ... FOR UPDATE/SHARE (takes row locks)", True
        return "read", "SELECT", True
    if kind == "VariableShowStmt":
        return "read", "SHOW", True
    if kind == "ExplainStmt":
        inner_tier, inner_label, _ = _needs(node.query)
        if _explain_analyze(node):
            return inner_tier, f"EXPLAIN ANALYZE of {inner_label}", True
        return "read", f"EXPLAIN of {inner_label}", True
    if kind in _DML_NODES:
        returning = bool(getattr(node, "returningList", None))
        return "dml", _DML_NODES[kind], returning
    if kind in _DDL_NODES:
        from pglast.enums import ObjectType

        if kind == "DropStmt" and node.removeType in (
            ObjectType.OBJECT_EXTENSION,
            ObjectType.OBJECT_DATABASE,
        ):
            return "unrestricted", "DROP EXTENSION/DATABASE", False
        return "ddl", _DDL_NODES[kind], False
    if kind == "VariableSetStmt" and node.name in ("TRANSACTION", "SESSION CHARACTERISTICS"):
        return "unrestricted", f"SET {node.name} (it changes the transaction's read-only mode)", False
    label = _UNRESTRICTED_WHY.get(kind, (_label_from_kind(kind), ""))[0]
    return "unrestricted", label, False


def _label_from_kind(kind: str) -> str:
    words = kind.removesuffix("Stmt")
    out = "".join(f" {c}" if c.isupper() else c for c in words).strip().upper()
    return out or kind


_TIER_WORDS: dict[Tier, str] = {
    "read": "read-only statements (SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN)",
    "dml": "reads and data changes (INSERT, UPDATE, DELETE, MERGE)",
    "ddl": "reads, data changes and schema changes (CREATE, ALTER, DROP, ...)",
    "unrestricted": "any single statement",
}


def check(sql: str, tier: Tier) -> Checked:
    """Parse `sql` and return what it is, or raise `AccessDenied` if `tier` does not allow it.

    Verdicts on short texts are cached (the same text at the same tier always gets the same answer), so a
    model that repeats a query does not pay for parsing twice; long ones are not kept (the cache would hold
    their trees).

    Raises:
        UserError: the text is empty, too long, nested too deeply, or does not parse.
        AccessDenied: several statements, a statement above `tier`, or a refused function.
    """
    if len(sql) <= _SMALL:
        return _check_cached(sql, tier)
    return _check(sql, tier)


async def check_async(sql: str, tier: Tier) -> Checked:
    """`check`, in a worker thread for a long text.

    Parsing 100,000 characters takes a second or more of CPU, which must not stall every other call on the
    event loop.
    """
    if len(sql) <= _SMALL:
        return check(sql, tier)
    import anyio

    return await anyio.to_thread.run_sync(_check, sql, tier, abandon_on_cancel=True)


def _check(sql: str, tier: Tier) -> Checked:
    if not sql or not sql.strip():
        raise UserError("No SQL was given.", hint="Pass one SQL statement in `sql`.")
    statements = _parse(sql)
    if len(statements) == 0:
        raise UserError(
            "The SQL holds no statement (only comments or semicolons).", hint="Pass one statement."
        )
    if len(statements) > 1:
        raise AccessDenied(
            f"The SQL holds {len(statements)} statements; this server runs exactly one statement per call, "
            "so a second statement cannot end or change the first one's transaction.",
            hint="Send each statement in its own call.",
        )
    node = statements[0].stmt
    needs, label, returns_rows = _needs(node)
    kind = type(node).__name__
    if not tier_allows(tier, needs):
        known_label, why = _UNRESTRICTED_WHY.get(kind, ("", ""))
        reason = f" ({why})" if why and label == known_label else ""
        if tier == "read":
            where = "This server is read-only (--access read)"
        else:
            where = f"This server runs with --access {tier}"
        raise AccessDenied(
            f"{label[:1].upper()}{label[1:]} is not allowed{reason}. {where}: it runs {_TIER_WORDS[tier]}.",
            hint=(
                "Rewrite it as a statement that tier allows, or ask the operator to start the server with "
                f"--access {needs} if this change is intended."
            ),
        )
    if tier != "unrestricted":
        _, functions, relations = _node_names(node)
        for name in functions:
            refused = denied_function(name)
            if refused is not None:
                raise AccessDenied(
                    f"The function {name}() is not allowed: it {refused}. This server refuses it below "
                    f"--access unrestricted, whatever the database role may do.",
                    hint="Query tables and views instead; server files and other databases are out of reach.",
                )
        for name in relations:
            refused = denied_relation(name)
            if refused is not None:
                raise AccessDenied(
                    f"The view {name} is not allowed: it {refused}. This server refuses it below "
                    f"--access unrestricted, whatever the database role may do.",
                    hint="Query tables and views instead; server files and settings files are out of reach.",
                )
    analyze = kind == "ExplainStmt" and _explain_analyze(node)
    raw = statements[0]  # its location and length count characters (pglast converts them)
    start = raw.stmt_location or 0
    body = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
    return Checked(
        sql=sql,
        needs=needs,
        label=label,
        node=node,
        returns_rows=returns_rows,
        explain_analyze=analyze,
        body=body,
    )


_check_cached = functools.lru_cache(maxsize=512)(_check)


def destroys(checked: Checked) -> str | None:
    """What a statement destroys, in a sentence for the confirmation question, or None.

    A DROP of any kind, TRUNCATE, ALTER TABLE ... DROP COLUMN, and a DELETE or UPDATE without WHERE (also
    inside WITH or EXPLAIN ANALYZE, which runs it) destroy data that a later statement cannot bring back.
    """
    from pglast import ast
    from pglast.enums import AlterTableType
    from pglast.visitors import Visitor

    found: list[str] = []

    def table(node: Any) -> str:
        relation = getattr(node, "relation", None)
        name = getattr(relation, "relname", None)
        schema = getattr(relation, "schemaname", None)
        return f"{schema}.{name}" if schema and name else name or "the table"

    class _Walk(Visitor):
        def visit(self, ancestors: Any, node: Any) -> None:
            kind = type(node).__name__
            if kind.startswith("Drop") and kind.endswith("Stmt"):
                label = _DDL_NODES.get(kind) or _UNRESTRICTED_WHY.get(kind, (_label_from_kind(kind), ""))[0]
                found.append(f"{label} removes objects and everything stored in them.")
            elif isinstance(node, ast.TruncateStmt):
                found.append("TRUNCATE removes every row of the tables it names.")
            elif isinstance(node, ast.DeleteStmt) and node.whereClause is None:
                found.append(f"DELETE without WHERE removes every row of {table(node)}.")
            elif isinstance(node, ast.UpdateStmt) and node.whereClause is None:
                found.append(f"UPDATE without WHERE changes every row of {table(node)}.")
            elif isinstance(node, ast.AlterTableCmd) and node.subtype == AlterTableType.AT_DropColumn:
                found.append(f"ALTER TABLE ... DROP COLUMN {node.name} removes that column's data.")

    _Walk()(checked.node)
    return " ".join(dict.fromkeys(found)) or None


async def destroys_async(checked: Checked) -> str | None:
    """`destroys`, in a worker thread for a long statement (see `check_async`)."""
    if len(checked.sql) <= _SMALL:
        return destroys(checked)
    import anyio

    return await anyio.to_thread.run_sync(destroys, checked, abandon_on_cancel=True)


async def column_refs_async(sql: str | Checked) -> ColumnRefs:
    """`column_refs`, in a worker thread for a long statement (see `check_async`)."""
    if len(sql.sql if isinstance(sql, Checked) else sql) <= _SMALL:
        return column_refs(sql)
    import anyio

    return await anyio.to_thread.run_sync(column_refs, sql, abandon_on_cancel=True)


@dataclass
class ColumnRefs:
    """Columns a query filters, joins, sorts or groups on, per table (for index advice)."""

    tables: dict[str, str] = field(default_factory=dict)  # alias or name -> schema-qualified table name
    equality: list[tuple[str | None, str]] = field(default_factory=list)  # (alias or None, column)
    ranges: list[tuple[str | None, str]] = field(default_factory=list)
    ordering: list[tuple[str | None, str]] = field(default_factory=list)


def column_refs(sql: str | Checked) -> ColumnRefs:
    """The tables of a single SELECT and the columns compared, joined or sorted on (by the parse tree).

    Given a `Checked` statement, its parse tree is used as it is (no second parse).
    """
    from pglast import ast
    from pglast.enums import A_Expr_Kind
    from pglast.visitors import Visitor

    if isinstance(sql, Checked):
        node = sql.node
    else:
        statements = _parse(sql)
        if len(statements) != 1:
            raise UserError("Index advice works on exactly one statement.", hint="Pass one SELECT.")
        node = statements[0].stmt
    if isinstance(node, ast.ExplainStmt):
        node = node.query
    refs = ColumnRefs()

    def column(expr: Any) -> tuple[str | None, str] | None:
        if isinstance(expr, ast.TypeCast):
            expr = expr.arg
        if not isinstance(expr, ast.ColumnRef):
            return None
        parts = [getattr(p, "sval", None) for p in expr.fields or ()]
        if not parts or parts[-1] is None:
            return None
        return (parts[-2] if len(parts) >= 2 else None, parts[-1])

    class _Walk(Visitor):
        def visit_RangeVar(self, ancestors: Any, node: Any) -> None:
            name = f"{node.schemaname}.{node.relname}" if node.schemaname else node.relname
            refs.tables[node.alias.aliasname if node.alias else node.relname] = name

        def visit_A_Expr(self, ancestors: Any, node: Any) -> None:
            op = getattr(node.name[0], "sval", "") if node.name else ""
            kind = node.kind
            is_in = kind == A_Expr_Kind.AEXPR_IN
            ranged = kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE)
            if not (op in ("=", "<", ">", "<=", ">=") or is_in or ranged):
                return
            targets = refs.equality if op == "=" or is_in else refs.ranges
            for side in (node.lexpr, node.rexpr):
                found = column(side)
                if found and found not in targets:
                    targets.append(found)

        def visit_SortBy(self, ancestors: Any, node: Any) -> None:
            found = column(node.node)
            if found and found not in refs.ordering:
                refs.ordering.append(found)

    _Walk()(node)
    return refs
