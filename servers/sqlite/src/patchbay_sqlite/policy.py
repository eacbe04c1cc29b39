"""Access tiers enforced by SQLite itself, through its authorizer callback.

SQLite calls the authorizer while it compiles a statement, once per action (read a column, insert into a
table, attach a file, call a function, ...). A prefix or regex check on the SQL text is bypassed by CTEs,
comments and case; the authorizer sees what the compiled statement will actually do, so it is the one
place access is decided. A read-only connection (`mode=ro`, `PRAGMA query_only`) is a second layer in the
`read` tier, but it does not stop `ATTACH` or `VACUUM INTO` from creating files elsewhere: only the
authorizer denials below do.

Always denied, whatever the tier: ATTACH/DETACH (and so `VACUUM`, which attaches its target), loading
extensions, transaction control (each call is one statement, committed on its own), and every PRAGMA
outside a short allow-list of read-only ones.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = ["ACTION_NAMES", "Access", "Authorizer", "Purpose"]


class Access(StrEnum):
    """What the operator lets statements do: read, change rows (dml), or change the schema (ddl)."""

    READ = "read"
    DML = "dml"
    DDL = "ddl"


class Purpose(StrEnum):
    """What the tool running a statement is for; narrows the tier further."""

    READ = "read"  # read_query, explain_query, metadata: never a change, whatever the tier
    WRITE = "write"  # write_query: whatever the tier allows
    CREATE_TABLE = "create_table"  # create_table: CREATE TABLE only


# Action codes from sqlite3.h (the Python module's constants collide with error codes of equal value).
ACTION_NAMES: Final[dict[int, str]] = dict(
    enumerate(
        [
            "COPY",
            "CREATE_INDEX",
            "CREATE_TABLE",
            "CREATE_TEMP_INDEX",
            "CREATE_TEMP_TABLE",
            "CREATE_TEMP_TRIGGER",
            "CREATE_TEMP_VIEW",
            "CREATE_TRIGGER",
            "CREATE_VIEW",
            "DELETE",
            "DROP_INDEX",
            "DROP_TABLE",
            "DROP_TEMP_INDEX",
            "DROP_TEMP_TABLE",
            "DROP_TEMP_TRIGGER",
            "DROP_TEMP_VIEW",
            "DROP_TRIGGER",
            "DROP_VIEW",
            "INSERT",
            "PRAGMA",
            "READ",
            "SELECT",
            "TRANSACTION",
            "UPDATE",
            "ATTACH",
            "DETACH",
            "ALTER_TABLE",
            "REINDEX",
            "ANALYZE",
            "CREATE_VTABLE",
            "DROP_VTABLE",
            "FUNCTION",
            "SAVEPOINT",
            "RECURSIVE",
        ]
    )
)

_READ_ACTIONS: Final = frozenset({"SELECT", "READ", "RECURSIVE", "FUNCTION", "PRAGMA"})
_DML_ACTIONS: Final = frozenset({"INSERT", "UPDATE", "DELETE"})
_DDL_ACTIONS: Final = frozenset(
    {
        "CREATE_INDEX",
        "CREATE_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_TRIGGER",
        "CREATE_VIEW",
        "CREATE_VTABLE",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "DROP_VTABLE",
        "ALTER_TABLE",
        "REINDEX",
        "ANALYZE",
    }
)
DROP_ACTIONS: Final = frozenset(a for a in _DDL_ACTIONS if a.startswith("DROP_"))
_SCHEMA_TABLES: Final = frozenset(
    {"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"}
)

# PRAGMAs whose argument names a table or index (reading it changes nothing).
_NAMED_PRAGMAS: Final = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_info",
        "index_xinfo",
        "index_list",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
# PRAGMAs allowed only without an argument: with one they would change a setting.
_SETTING_PRAGMAS: Final = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "user_version",
    }
)
_DENIED_FUNCTIONS: Final = frozenset({"load_extension"})

_WHY: Final[dict[str, str]] = {
    "ATTACH": "ATTACH is never allowed: it opens or creates other database files. The databases this server "
    "serves are the ones the operator named with --db.",
    "DETACH": "DETACH is never allowed on this server.",
    "TRANSACTION": "Transaction control (BEGIN, COMMIT, ROLLBACK) is not allowed: each call runs one "
    "statement and commits it on its own.",
    "SAVEPOINT": "SAVEPOINT and RELEASE are not allowed: each call runs one statement and commits it on "
    "its own.",
}


@dataclass
class Authorizer:
    """The callback given to `Connection.set_authorizer`: the tier, the tool's purpose, and what it saw.

    `internal` lets the server's own bookkeeping statements through (savepoints of a dry run); it is never
    set while a model-given statement is compiled.
    """

    access: Access
    purpose: Purpose = Purpose.READ
    internal: bool = False
    actions: list[tuple[str, str | None]] = field(default_factory=list)
    denial: str | None = None

    def begin(self, purpose: Purpose) -> None:
        """Start compiling a new statement for `purpose`."""
        self.purpose = purpose
        self.actions = []
        self.denial = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        """Allow or deny one action (the signature `sqlite3` calls)."""
        if self.internal:
            return sqlite3.SQLITE_OK
        name = ACTION_NAMES.get(action, str(action))
        reason = self._check(name, arg1, arg2)
        if reason is None:
            self.actions.append((name, arg1))
            return sqlite3.SQLITE_OK
        if self.denial is None:
            self.denial = reason
        return sqlite3.SQLITE_DENY

    def _check(self, name: str, arg1: str | None, arg2: str | None) -> str | None:
        """None when allowed, otherwise the reason for the model."""
        if name in _WHY:
            return _WHY[name]
        if name == "FUNCTION" and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return f"The function {arg2}() is never allowed on this server."
        if name == "PRAGMA":
            return _check_pragma((arg1 or "").lower(), arg2)
        if name == "UPDATE" and (arg1 or "").lower() in _SCHEMA_TABLES:
            # SQLite's own schema bookkeeping (table-valued functions, CREATE): writing the schema table
            # directly needs PRAGMA writable_schema, which is never allowed.
            return None
        if name in _READ_ACTIONS:
            return None
        if self.purpose is Purpose.READ:
            return (
                f"This tool only reads; the statement would {_describe(name, arg1)}. "
                "Changes go through write_query (when the operator enabled writes)."
            )
        if name in {"INSERT", "DELETE"} and (arg1 or "").lower() in _SCHEMA_TABLES:
            return None  # the schema row written by an allowed CREATE/DROP; the CREATE/DROP itself is checked
        if self.purpose is Purpose.CREATE_TABLE and name not in {
            "CREATE_TABLE",
            "CREATE_TEMP_TABLE",
            "INSERT",
        }:
            return f"create_table runs CREATE TABLE statements only; this one would {_describe(name, arg1)}."
        if name in _DML_ACTIONS:
            if self.access is Access.READ:
                return (
                    f"The server is read-only (--access read); the statement would {_describe(name, arg1)}."
                )
            return None
        if name in _DDL_ACTIONS:
            if self.access is not Access.DDL:
                return (
                    f"Schema changes need --access ddl (the server runs with --access {self.access.value}); "
                    f"the statement would {_describe(name, arg1)}."
                )
            return None
        return f"The action {name} is not allowed on this server."


def _check_pragma(pragma: str, argument: str | None) -> str | None:
    if pragma in _NAMED_PRAGMAS or (pragma in _SETTING_PRAGMAS and argument is None):
        return None
    if pragma in _SETTING_PRAGMAS:
        return f"PRAGMA {pragma} may be read but not set on this server."
    return (
        f"PRAGMA {pragma} is not allowed. Allowed (read-only): "
        f"{', '.join(sorted(_NAMED_PRAGMAS | _SETTING_PRAGMAS))}."
    )


def _describe(action: str, target: str | None) -> str:
    verb = action.lower().replace("_", " ")
    return f"{verb} {target}" if target else verb
