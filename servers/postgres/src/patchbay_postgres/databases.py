"""The databases one server talks to: `--dsn NAME=URL` entries, a lazy asyncpg pool each, and clear errors.

Nothing connects at start-up: a database that is down does not stop the server from answering
`initialize`. The first call (or the background warm-up) opens the pool, retrying refused connections
with backoff; a failure becomes a `UserError` that names the database, never its password. Every
connection handed back to the pool is reset with `DISCARD ALL`, so no session state (settings, temporary
tables, prepared statements, advisory locks, LISTENs) passes from one call to the next.

While a tool call holds a connection, the client that asked for progress is told the seconds elapsed since
the call first asked for one (waiting for the pool included), a few times a second: "query on database
shop: 2.5 s". A call that ends early (cancelled by the client, past --tool-timeout, its HTTP request
dropped) cancels its statement in PostgreSQL: asyncpg sends a CancelRequest when the task awaiting the
statement is cancelled, and the connection is rolled back and reset before it returns to the pool.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from patchbay_common import notify, telemetry
from patchbay_common.errors import AccessDenied, NotFound, UserError, redact, register_secret
from patchbay_common.logs import call_field, get_logger
from patchbay_common.retry import retry_async

__all__ = [
    "LEAST_PRIVILEGE",
    "Database",
    "RoleInfo",
    "Target",
    "connection_lost",
    "describe_write_privileges",
    "parse_targets",
]

log = get_logger("patchbay.postgres")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
_SCHEMES = ("postgresql://", "postgres://")
_RESET_SQL = "DISCARD ALL"
_TICK = 0.2  # seconds between two updates of the elapsed time (the layer sends at most four a second)

# The tool call that last asked for a connection in this task, and when: every connection one call opens
# counts from there, so its progress never goes backwards from one connection to the next.
_call_started: ContextVar[tuple[Any, float] | None] = ContextVar(
    "patchbay_postgres_call_started", default=None
)


def _started() -> float:
    call = notify.current_call.get()
    known = _call_started.get()
    if known is not None and known[0] is call:
        return known[1]
    now = time.monotonic()
    _call_started.set((call, now))
    return now


@asynccontextmanager
async def _elapsed(database: str) -> AsyncIterator[notify.Progress]:
    """Progress of the current tool call in seconds elapsed, updated while the block runs."""
    tool = call_field("tool") or "call"
    started = _started()
    async with notify.Progress(unit="s", message=f"{tool} on database {database}") as progress:
        if notify.current_call.get() is None:  # not a tool call (resources, warm-up, completions)
            yield progress
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal handle
            progress.update(round(time.monotonic() - started, 1))
            handle = loop.call_later(_TICK, tick)

        tick()
        try:
            yield progress
        finally:
            if handle is not None:
                handle.cancel()
            progress.update(round(time.monotonic() - started, 1))


@dataclass(frozen=True)
class Target:
    """One configured database: the name tools use, and its DSN (None: libpq's PG* environment)."""

    name: str
    dsn: str | None

    def display(self) -> str:
        """The DSN without its password, fit for a model or a log line."""
        if self.dsn is None:
            host = os.environ.get("PGHOST", "localhost")
            return f"postgresql://{os.environ.get('PGUSER', '')}@{host}:{os.environ.get('PGPORT', '5432')}/"
        parts = urlsplit(self.dsn)
        netloc = parts.netloc.rsplit("@", 1)
        if len(netloc) == 2:
            user = netloc[0].split(":", 1)[0]
            netloc_text = f"{user}@{netloc[1]}"
        else:
            netloc_text = netloc[0]
        query = "&".join(
            f"{k}={'***' if k.lower() in ('password', 'sslpassword') else v[0]}"
            for k, v in parse_qs(parts.query).items()
        )
        return urlunsplit((parts.scheme, netloc_text, parts.path, query, ""))


def parse_targets(entries: list[str]) -> list[Target]:
    """Turn `--dsn` values (`NAME=postgresql://...` or a bare URL) into targets, registering passwords.

    Raises:
        ValueError: a value is not a postgres URL, a name is malformed, or a name repeats.
    """
    register_secret(os.environ.get("PGPASSWORD"))
    if not entries:
        return [Target("default", None)]
    targets: list[Target] = []
    for entry in entries:
        entry = entry.strip()
        if entry.startswith(_SCHEMES):
            name, dsn = "", entry
        else:
            name, _, dsn = entry.partition("=")
            if not dsn.startswith(_SCHEMES):
                raise ValueError(
                    "--dsn expects postgresql://user@host:port/dbname or NAME=postgresql://...; "
                    f"got {redact(entry)!r}"
                )
        parts = urlsplit(dsn)
        if parts.password:
            register_secret(unquote(parts.password))
        for key, values in parse_qs(parts.query).items():
            if key.lower() in ("password", "sslpassword"):
                for value in values:
                    register_secret(value)
        if not name:
            name = unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or "default"
        if not _NAME.match(name):
            raise ValueError(f"--dsn name {name!r} must be letters, digits, '_', '-' or '.'")
        if any(t.name == name for t in targets):
            raise ValueError(f"--dsn name {name!r} is given twice; name each database: NAME=postgresql://...")
        targets.append(Target(name, dsn))
    return targets


LEAST_PRIVILEGE = (
    "Connect with a least-privilege role that can only read: CREATE ROLE mcp_reader LOGIN; "
    "GRANT pg_read_all_data TO mcp_reader; (or GRANT USAGE ON SCHEMA ... and GRANT SELECT ON ALL TABLES IN "
    "SCHEMA ... TO mcp_reader), with no ownership of tables or schemas, no INSERT/UPDATE/DELETE/TRUNCATE "
    "grants, no CREATE on schemas, and no membership in roles that have them (see the README)."
)


@dataclass(frozen=True)
class RoleInfo:
    """Who the server is connected as, and what in that role reaches beyond reading tables."""

    user: str
    database: str
    server_version: str
    superuser: bool
    risky_memberships: tuple[str, ...]
    in_recovery: bool
    write_privileges: tuple[str, ...] = ()  # plain-language lines: what it may change, and through whom

    @property
    def dangers(self) -> list[str]:
        """Reasons this role reaches outside the database (superuser, server files, programs)."""
        found = ["it is a superuser"] if self.superuser else []
        found += [f"it is a member of {role}" for role in self.risky_memberships]
        return found

    @property
    def risks(self) -> list[str]:
        """Plain-language reasons this role is more powerful than a read-only role should be."""
        return [*self.dangers, *(f"it {line}" for line in self.write_privileges)]


_ROLE_SQL = """
SELECT current_user AS "user", current_database() AS database, current_setting('server_version') AS version,
       r.rolsuper AS superuser, pg_is_in_recovery() AS in_recovery,
       ARRAY(SELECT g FROM unnest(ARRAY['pg_read_server_files','pg_write_server_files',
                                        'pg_execute_server_program']) AS g
             WHERE pg_has_role(current_user, g, 'MEMBER') AND NOT r.rolsuper) AS risky
FROM pg_roles r WHERE r.rolname = current_user
"""

# What a (non-superuser) role may change in this database, directly, through PUBLIC, or through a role it is
# a member of: one row per kind of privilege and role it comes through, with a count and a few examples.
_WRITE_PRIVILEGES_SQL = """
WITH me AS (
    SELECT r.oid, r.rolname FROM pg_roles r WHERE pg_has_role(current_user, r.oid, 'MEMBER')
    UNION ALL SELECT 0::oid, 'PUBLIC'
),
rels AS (
    SELECT c.oid, c.relname, n.nspname, c.relowner, c.relacl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
),
schemas AS (
    SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
),
found(kind, via, privilege, object) AS (
    SELECT 'owns table', me.rolname, NULL, format('%I.%I', r.nspname, r.relname)
    FROM rels r JOIN me ON me.oid = r.relowner
    UNION ALL
    SELECT 'table', me.rolname, a.privilege_type, format('%I.%I', r.nspname, r.relname)
    FROM rels r CROSS JOIN LATERAL aclexplode(r.relacl) a JOIN me ON me.oid = a.grantee
    WHERE a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER')
    UNION ALL
    SELECT 'table', me.rolname, a.privilege_type, format('%I.%I', r.nspname, r.relname)
    FROM rels r JOIN pg_attribute att ON att.attrelid = r.oid AND att.attnum > 0 AND NOT att.attisdropped
         CROSS JOIN LATERAL aclexplode(att.attacl) a JOIN me ON me.oid = a.grantee
    WHERE a.privilege_type IN ('INSERT', 'UPDATE')
    UNION ALL
    SELECT 'owns schema', me.rolname, NULL, format('%I', s.nspname)
    FROM schemas s JOIN me ON me.oid = s.nspowner
    UNION ALL
    SELECT 'create in schema', me.rolname, NULL, format('%I', s.nspname)
    FROM schemas s CROSS JOIN LATERAL aclexplode(s.nspacl) a JOIN me ON me.oid = a.grantee
    WHERE a.privilege_type = 'CREATE'
    UNION ALL
    SELECT 'owns database', me.rolname, NULL, format('%I', d.datname)
    FROM pg_database d JOIN me ON me.oid = d.datdba WHERE d.datname = current_database()
    UNION ALL
    SELECT 'create in database', me.rolname, NULL, format('%I', d.datname)
    FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a JOIN me ON me.oid = a.grantee
    WHERE d.datname = current_database() AND a.privilege_type = 'CREATE'
    UNION ALL
    SELECT 'member', me.rolname, NULL, me.rolname FROM me WHERE me.rolname = 'pg_write_all_data'
    UNION ALL
    SELECT 'attribute', r.rolname, a.attr, NULL
    FROM pg_roles r CROSS JOIN LATERAL (VALUES ('CREATEROLE', r.rolcreaterole), ('CREATEDB', r.rolcreatedb))
         AS a(attr, granted)
    WHERE r.rolname = current_user AND a.granted
)
SELECT kind, via,
       array_agg(DISTINCT privilege) FILTER (WHERE privilege IS NOT NULL) AS privileges,
       count(DISTINCT object) AS objects,
       (array_agg(DISTINCT object) FILTER (WHERE object IS NOT NULL))[1:3] AS examples
FROM found GROUP BY kind, via ORDER BY kind, via
"""

_CONNECT_ERRORS_RETRIED = (OSError, TimeoutError)


def describe_write_privileges(rows: list[Any], user: str) -> tuple[str, ...]:
    """Plain-language lines ("can INSERT, UPDATE 2 tables (public.a, public.b) through membership in x")."""
    lines = []
    for row in rows:
        kind, via, count = row["kind"], row["via"], row["objects"]
        privileges = ", ".join(sorted(row["privileges"] or ()))
        examples = list(row["examples"] or ())
        shown = ", ".join(examples) + (", ..." if count > len(examples) else "")
        if kind == "table":  # tables, views, materialized views and foreign tables alike
            line = f"can {privileges} {count} table{'s' if count != 1 else ''} ({shown})"
        elif kind == "owns table":  # views and other relations count as tables here
            line = f"owns {count} table{'s' if count != 1 else ''} ({shown})"
        elif kind == "owns schema":
            line = f"owns schema {shown}"
        elif kind == "create in schema":
            line = f"can CREATE in schema {shown}"
        elif kind == "owns database":
            line = f"owns database {shown}"
        elif kind == "create in database":
            line = f"can CREATE schemas in database {shown}"
        elif kind == "member":
            line = "is a member of pg_write_all_data (it can write every table)"
        else:
            line = f"has {privileges}"
        if via == "PUBLIC":
            line += " (granted to PUBLIC)"
        elif via != user and kind not in ("member", "attribute"):
            line += f" through membership in {via}"
        lines.append(line)
    return tuple(lines)


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` means the connection died under a call (restart, terminated backend, network)."""
    import asyncpg

    if isinstance(
        exc, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.exceptions.ConnectionFailureError
    ):
        return True
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" in str(exc).lower():
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return bool(sqlstate and (sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")))


@dataclass
class Database:
    """One target with its lazily created pool and what the first connection learned about the role."""

    target: Target
    strict: bool = False
    read_only: bool = True
    pool_size: int = 5
    connect_timeout: float = 10.0
    _pool: Any = field(default=None, repr=False)
    role: RoleInfo | None = None
    replica: Any = field(default=None, repr=False)
    """The `replica.Replica` reads of this database may go to (`--replica-dsn`), or None."""

    @property
    def name(self) -> str:
        """The name tools use for this database."""
        return self.target.name

    async def _create_pool(self) -> Any:
        import asyncpg

        async def reset(connection: Any) -> None:
            await connection.execute(_RESET_SQL)

        pool = await asyncpg.create_pool(
            self.target.dsn,
            min_size=0,
            max_size=self.pool_size,
            statement_cache_size=0,  # DISCARD ALL drops prepared statements; never reuse a stale one
            max_inactive_connection_lifetime=60.0,
            timeout=self.connect_timeout,
            reset=reset,
            server_settings={"application_name": "patchbay-postgres"},
        )
        # With --otel, patchbay_pool_connections{pool="postgres:<name>"} in use and idle; else a no-op.
        telemetry.observe_pool(
            f"postgres:{self.name}", lambda: (pool.get_size() - pool.get_idle_size(), pool.get_size())
        )
        return pool

    async def pool(self) -> Any:
        """The pool, created on first use."""
        if self._pool is None:
            self._pool = await self._create_pool()
        return self._pool

    def _unreachable(self, exc: BaseException) -> UserError:
        import asyncpg

        where = self.target.display()
        if isinstance(
            exc,
            asyncpg.exceptions.InvalidPasswordError
            | asyncpg.exceptions.InvalidAuthorizationSpecificationError,
        ):
            return UserError(
                f"Database {self.name!r} ({where}) refused the login: {redact(str(exc))}.",
                hint="The operator must fix the role or password in --dsn; calls cannot succeed until then.",
            )
        if isinstance(exc, asyncpg.exceptions.InvalidCatalogNameError):
            return UserError(
                f"Database {self.name!r} ({where}) does not exist on that server: {redact(str(exc))}.",
                hint="The operator must fix the database name in --dsn.",
            )
        if isinstance(exc, asyncpg.exceptions.TooManyConnectionsError):
            return UserError(
                f"Database {self.name!r} ({where}) has no free connection slots: {redact(str(exc))}.",
                hint="Try again in a little while.",
            )
        reason = redact(str(exc)) or type(exc).__name__
        return UserError(
            f"Cannot connect to database {self.name!r} ({where}): {reason}.",
            hint=(
                "The server is down, restarting or unreachable. This server reconnects by itself on the "
                "next call; try again in a few seconds, or ask the operator to check PostgreSQL."
            ),
        )

    async def _acquire(self) -> Any:
        import asyncpg

        pool = await self.pool()

        async def attempt() -> Any:
            return await pool.acquire(timeout=self.connect_timeout)

        retried = (*_CONNECT_ERRORS_RETRIED, asyncpg.exceptions.CannotConnectNowError)
        try:
            return await retry_async(
                attempt,
                idempotent=True,
                attempts=3,
                initial_wait=0.2,
                max_wait=1.0,
                retry_on=retried,
                total_timeout=self.connect_timeout,
            )
        except (*retried, asyncpg.exceptions.PostgresError, asyncpg.exceptions.InterfaceError) as exc:
            raise self._unreachable(exc) from None

    async def _write_privileges(self, connection: Any, user: str) -> tuple[str, ...]:
        """What the role may change in this database (read tier only: a write tier is meant to write)."""
        try:
            rows = await connection.fetch(_WRITE_PRIVILEGES_SQL, timeout=max(5.0, self.connect_timeout))
        except Exception as exc:  # an odd catalog or a slow one must not stop the server from working
            log.info("write privileges not checked", database=self.name, error=redact(str(exc)))
            return ()
        return describe_write_privileges(list(rows), user)

    async def check_role(self, connection: Any) -> RoleInfo:
        """Learn the role once; warn loudly (or, with --strict, refuse) when it can do more than read."""
        if self.role is None:
            row = await connection.fetchrow(_ROLE_SQL)
            superuser = bool(row["superuser"])
            writes: tuple[str, ...] = ()
            if self.read_only and not superuser:  # a superuser can change anything: said already
                writes = await self._write_privileges(connection, row["user"])
            learned = RoleInfo(
                user=row["user"],
                database=row["database"],
                server_version=row["version"],
                superuser=superuser,
                risky_memberships=tuple(row["risky"] or ()),
                in_recovery=bool(row["in_recovery"]),
                write_privileges=writes,
            )
            if self.role is not None:  # the warm-up and a first call learned it at once: warn once
                return await self.check_role(connection)
            self.role = learned
            if self.role.dangers and self.read_only:
                log.warning(
                    "DANGER: the read-only server connects with a powerful role; use a least-privilege role",
                    database=self.name,
                    role=self.role.user,
                    risks=self.role.dangers,
                    strict=self.strict,
                    advice=LEAST_PRIVILEGE,
                )
            if self.role.write_privileges and self.read_only:
                log.warning(
                    "WARNING: the read-only server connects with a role that can change data; "
                    "use a role that can only read",
                    database=self.name,
                    role=self.role.user,
                    privileges=list(self.role.write_privileges),
                    strict=self.strict,
                    advice=LEAST_PRIVILEGE,
                )
        if self.strict and self.read_only and self.role.risks:
            raise AccessDenied(
                f"Database {self.name!r} is refused by --strict: the role {self.role.user!r} is too "
                f"powerful for a read-only server ({'; '.join(self.role.risks)}).",
                hint=f"{LEAST_PRIVILEGE} No call can run until then.",
            )
        return self.role

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection for one call; returned to the pool (and reset) afterwards.

        In a tool call, the seconds elapsed are reported as progress meanwhile (see the module docstring).
        """
        async with _elapsed(self.name):
            connection = await self._acquire()
            pool = self._pool
            try:
                await self.check_role(connection)
                yield connection
            finally:
                try:
                    await pool.release(connection, timeout=5.0)
                except Exception as exc:  # a dead connection: the pool replaces it on the next acquire
                    log.info("connection dropped on release", database=self.name, error=redact(str(exc)))

    async def close(self) -> None:
        """Close the pool (idle connections at once, busy ones after a short grace), and the replica's."""
        if self.replica is not None:
            await self.replica.replica.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except Exception:
                pool.terminate()


class Databases:
    """The configured databases by name; the first is the default."""

    def __init__(self, databases: list[Database]) -> None:
        self.by_name = {db.name: db for db in databases}
        self.default = databases[0]

    def get(self, name: str | None) -> Database:
        """The database called `name` (the first one when None)."""
        if not name:
            return self.default
        try:
            return self.by_name[name]
        except KeyError:
            raise NotFound(
                f"There is no database called {name!r}.",
                hint=f"Configured databases: {', '.join(self.by_name)} (see list_databases).",
            ) from None

    async def close(self) -> None:
        """Close every pool."""
        for db in self.by_name.values():
            await db.close()
