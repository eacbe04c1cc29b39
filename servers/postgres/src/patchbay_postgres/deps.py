"""What every toolset of patchbay-postgres needs (`Deps`), and what the tiers grant.

Also the tool access each `--access` tier grants and the argument types the tools share. `server.py` builds
one `Deps` and registers every toolset with it; a test can build one directly (with real `Databases`) and
call a tool function without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from patchbay_postgres.databases import Databases
from patchbay_postgres.execute import Limits
from patchbay_postgres.runtime import Runtime
from patchbay_postgres.sqlcheck import TIERS, Tier

__all__ = ["DatabaseArg", "Deps", "ParamsArg", "QueryOutput", "SqlArg", "granted"]


def granted(tier: Tier) -> frozenset[str]:
    """The tool access names `--access <tier>` grants: `read`, and every write tier up to `tier`.

    execute_sql is declared with access `dml`, so it is registered from the dml tier up; the tier itself still
    decides what each statement may do (sqlcheck).
    """
    return frozenset(TIERS[: TIERS.index(tier) + 1])


@dataclass(frozen=True)
class Deps:
    """What the tools need, built once in server.py.

    Attributes:
        databases: the configured databases by name (pools opened lazily).
        runtime: pools' lifespan, LISTEN hubs (resources and subscriptions).
        tier: the access tier (`--access`), which every statement is checked against.
        limits: statement and lock timeouts, rows and characters one page may hold.
        max_chars: characters one answer may hold, text and structured form together (`--max-output-chars`).
    """

    databases: Databases
    runtime: Runtime
    tier: Tier
    limits: Limits
    max_chars: int

    @property
    def text_budget(self) -> int:
        """Characters of a text-only answer left for content, after its frame and our note."""
        return max(300, self.max_chars - 700)


DatabaseArg = Annotated[
    str | None, Field(description="A configured database name (see list_databases); default: the first.")
]
SqlArg = Annotated[str, Field(description="One SQL statement; $1, $2, ... are placeholders for params.")]
Scalar = str | int | float | bool | None
ParamsArg = Annotated[
    list[Scalar | list[Scalar]],
    Field(
        description="Values for $1, $2, ... in order: text, numbers, booleans, null, or a list for ANY($n)."
    ),
]


class QueryOutput(BaseModel):
    """A page of a statement's result."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    offset: int
    truncated: bool
    next_offset: int | None
    next_cursor: str | None = None
    status: str
