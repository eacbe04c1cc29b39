"""Read-replica routing: `query` and `read_more_rows` read from a streaming replica when it is close enough.

`--replica-dsn [NAME=]postgresql://...` gives a database (the first one without NAME) a hot-standby
replica. Before a read the replica's lag is measured: the primary's `pg_current_wal_lsn()` against the
replica's `pg_last_wal_replay_lsn()` (bytes not yet replayed) and, when it is behind, the seconds since
the last replayed transaction (`pg_last_xact_replay_timestamp()`). The measurement is kept for a moment
(`_FRESH` seconds) so a burst of reads costs one check.

The design, as the README says it: a read goes to the replica when it is at most `--max-replica-lag`
seconds behind. Past that bound, when the replica is unreachable, when it is not in recovery (promoted)
or when its replay is paused and behind, the read runs on the primary and the result carries a note
saying so and why. When the primary cannot be asked for its position, the read runs on the replica with a
note that the lag is unknown. Writes (`execute_sql`), `explain_query` and an `EXPLAIN ANALYZE` given to
`query` always run on the primary, as do the catalog and health tools. `replica_status` reports the lag.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import UserError, redact
from patchbay_common.logs import get_logger

__all__ = ["LagStatus", "Replica", "reading"]

log = get_logger("patchbay.postgres")

_FRESH = 0.5
"""Seconds a lag measurement is reused for."""

_DOWN_FRESH = 5.0
"""Seconds an unreachable replica is not tried again (each try may wait for the connect retries)."""

_EXPLAIN_ANALYZE = re.compile(r"^\s*explain\b[^;]*\banalyze\b", re.IGNORECASE | re.DOTALL)

_REPLICA_SQL = """
SELECT pg_is_in_recovery() AS recovery,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       CASE WHEN $1::text IS NULL THEN NULL
            ELSE pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn()) END AS behind_bytes,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS since_replay
"""


@dataclass
class LagStatus:
    """One measurement of how far the replica is behind the primary, and where reads go because of it."""

    reachable: bool
    in_recovery: bool | None = None
    paused: bool | None = None
    primary_lsn: str | None = None
    replay_lsn: str | None = None
    behind_bytes: int | None = None
    lag_seconds: float | None = None
    error: str | None = None
    measured_at: float = field(default_factory=time.monotonic)

    def as_dict(self, bound: float, where: str) -> dict[str, Any]:
        """JSON-ready form for `replica_status`."""
        use, why = self.route(bound)
        return {
            "replica": where,
            "reachable": self.reachable,
            "in_recovery": self.in_recovery,
            "replay_paused": self.paused,
            "primary_lsn": self.primary_lsn,
            "replay_lsn": self.replay_lsn,
            "behind_bytes": self.behind_bytes,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "max_replica_lag_seconds": bound,
            "reads_go_to": "replica" if use else "primary",
            "why": why,
        }

    def route(self, bound: float) -> tuple[bool, str]:
        """(read from the replica?, the reason in words)."""
        if not self.reachable:
            return False, f"the replica is not reachable ({self.error})"
        if self.in_recovery is False:
            return False, "the replica is not in recovery (it was promoted or is not a standby)"
        if self.primary_lsn is None:
            return True, f"the lag could not be checked: the primary did not answer ({self.error})"
        if self.lag_seconds is not None and self.lag_seconds > bound:
            paused = " (its WAL replay is paused)" if self.paused else ""
            return False, (
                f"the replica is {self.lag_seconds:.1f} s behind the primary{paused}, "
                f"more than --max-replica-lag {bound:g} s"
            )
        return True, f"the replica is {self.lag_seconds or 0:.1f} s behind the primary"


class Replica:
    """The replica of one database, its lag bound, and the latest lag measurement."""

    def __init__(self, primary: Any, replica: Any, max_lag: float) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self._status: LagStatus | None = None

    @property
    def where(self) -> str:
        """The replica's DSN without its password."""
        return str(self.replica.target.display())

    def forget(self) -> None:
        """Drop the latest measurement (the replica just failed): the next read measures again."""
        self._status = None

    async def status(self, *, fresh: bool = False) -> LagStatus:
        """Measure the lag (or reuse a measurement younger than `_FRESH` seconds)."""
        now = time.monotonic()
        keep = _FRESH if self._status is None or self._status.reachable else _DOWN_FRESH
        if not fresh and self._status is not None and now - self._status.measured_at < keep:
            return self._status
        primary_lsn: str | None = None
        primary_error = None
        try:
            async with self.primary.connection() as connection:
                primary_lsn = await connection.fetchval("SELECT pg_current_wal_lsn()::text", timeout=5.0)
        except Exception as exc:
            primary_error = _reason(exc)
        try:
            async with self.replica.connection() as connection:
                row = await connection.fetchrow(_REPLICA_SQL, primary_lsn, timeout=5.0)
        except Exception as exc:
            self._status = LagStatus(reachable=False, primary_lsn=primary_lsn, error=_reason(exc))
            return self._status
        behind = None if row["behind_bytes"] is None else int(row["behind_bytes"])
        lag: float | None
        if primary_lsn is None:
            lag = None
        elif behind is not None and behind <= 0:
            lag = 0.0  # replayed everything the primary had written when asked
        else:
            # Behind: the seconds since the last replayed commit (none replayed yet: unknown, so too far).
            lag = float("inf") if row["since_replay"] is None else max(0.0, float(row["since_replay"]))
        self._status = LagStatus(
            reachable=True,
            in_recovery=bool(row["recovery"]),
            paused=row["paused"],
            primary_lsn=primary_lsn,
            replay_lsn=row["replay_lsn"],
            behind_bytes=behind,
            lag_seconds=lag,
            error=primary_error,
        )
        return self._status


def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, UserError) else str(exc)
    return redact(text) or type(exc).__name__


@asynccontextmanager
async def reading(db: Any, sql: str) -> AsyncIterator[tuple[Any, str | None]]:
    """A connection for one read of `db` (its replica's when the lag allows) and the note to show, if any."""
    replica: Replica | None = getattr(db, "replica", None)
    if replica is None or _EXPLAIN_ANALYZE.match(sql):
        async with db.connection() as connection:
            yield connection, None
        return
    status = await replica.status()
    use, why = status.route(replica.max_lag)
    if use:
        stack = AsyncExitStack()
        try:
            connection = await stack.enter_async_context(replica.replica.connection())
        except UserError as exc:  # the replica went away since the measurement
            replica.forget()
            why = f"the replica is not reachable ({_reason(exc)})"
        else:
            async with stack:
                note = None if status.primary_lsn is not None else f"Note: read from the replica; {why}."
                yield connection, note
            return
    log.info("read routed to the primary", database=db.name, why=why)
    async with db.connection() as connection:
        yield connection, f"Note: this read ran on the primary, not the replica: {why}."
