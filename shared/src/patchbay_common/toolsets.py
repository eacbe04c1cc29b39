"""Declaring tools: a tool states what it needs, and `PatchbayServer` derives the rest from that.

A toolset module declares its tools on a `Toolset`; each tool takes the server's dependencies object as its
first parameter, `deps`, so it can be tested without building a server:

    tools = Toolset("queries", "Run SQL.")

    @tools.tool(untrusted="query result")
    async def read_query(deps: Deps, query: str) -> Reply:
        ...

    @tools.tool(access="write", destructive=True, confirm=ask_before_delete)
    async def write_query(deps: Deps, query: str) -> str:
        ...

`server.py` then registers it: `mcp.add_toolset(tools, deps, access={"read", "write"})`. From the declaration
the layer derives: whether the tool is listed at all (its access must be granted), its annotations (a read
tool is read-only and idempotent; a write tool is not, and says whether it is destructive), the frame of
its output (`untrusted=` names the source), and the confirmation dialog (`confirm=` returns the question to
ask, or None when none is needed), which works in both protocol eras through the SDK's resolvers.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, get_args, get_origin

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from patchbay_common.errors import UserError
from patchbay_common.results import Reply

__all__ = ["READ", "Confirm", "ToolSpec", "Toolset", "bind_tool"]

READ = "read"
"""The access every read tool needs; any other access name (write, dml, ddl, delete, post) is a write tier."""

F = TypeVar("F", bound=Callable[..., Any])


class Confirm(BaseModel):
    """The user's answer to a confirmation question."""

    confirm: bool = Field(description="Go ahead")


@dataclass(frozen=True)
class ToolSpec:
    """One tool's declaration: what it is, what access it needs, and what its output is."""

    fn: Callable[..., Any]
    name: str
    toolset: str
    access: str = READ
    untrusted: str | None = None
    destructive: bool = False
    idempotent: bool | None = None
    open_world: bool = False
    confirm: Callable[..., Any] | None = None
    title: str | None = None
    structured_output: bool | None = None
    continuation: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def read_only(self) -> bool:
        """Whether the tool only reads."""
        return self.access == READ

    def annotations(self) -> ToolAnnotations:
        """Every hint stated, true to the declaration (a read tool is never destructive)."""
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=False if self.read_only else self.destructive,
            idempotent_hint=self.read_only if self.idempotent is None else self.idempotent,
            open_world_hint=self.open_world,
        )


class Toolset:
    """A named group of tools declared in one module and registered together with one dependencies object."""

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.specs: list[ToolSpec] = []

    def tool(
        self,
        *,
        access: str = READ,
        untrusted: str | None = None,
        destructive: bool = False,
        idempotent: bool | None = None,
        open_world: bool = False,
        confirm: Callable[..., Any] | None = None,
        title: str | None = None,
        name: str | None = None,
        structured_output: bool | None = None,
        continuation: str | None = None,
    ) -> Callable[[F], F]:
        """Declare a tool (see the module docstring); the function is returned unchanged."""

        def declare(fn: F) -> F:
            self.specs.append(
                ToolSpec(
                    fn=fn,
                    name=name or fn.__name__,
                    toolset=self.name,
                    access=access,
                    untrusted=untrusted,
                    destructive=destructive,
                    idempotent=idempotent,
                    open_world=open_world,
                    confirm=confirm,
                    title=title,
                    structured_output=structured_output,
                    continuation=continuation,
                )
            )
            return fn

        return declare

    def names(self) -> list[str]:
        """The declared tool names, in declaration order."""
        return [spec.name for spec in self.specs]

    def granted(self, access: Iterable[str]) -> list[ToolSpec]:
        """The declarations whose access is among `access`."""
        allowed = set(access)
        return [spec for spec in self.specs if spec.access in allowed]


# --- binding a declaration to a callable the SDK can register ----------------------------------------------


def _return_annotation(annotation: Any) -> Any:
    """`Reply` becomes `CallToolResult` (what the layer turns it into); `Annotated[Reply, X]` keeps X."""
    if annotation is Reply:
        return CallToolResult
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        if inner is Reply:
            return Annotated[(CallToolResult, *extra)]
    return annotation


def _without_deps(fn: Callable[..., Any]) -> tuple[list[inspect.Parameter], dict[str, Any], bool]:
    """The parameters of `fn` without a leading `deps`, their resolved annotations, and whether it had one."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    parameters = list(signature.parameters.values())
    takes_deps = bool(parameters) and parameters[0].name == "deps"
    if takes_deps:
        parameters = parameters[1:]
    resolved = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in parameters]
    return resolved, hints, takes_deps


def _confirmation_resolver(
    question: Callable[..., Any], deps: Any, allow_unconfirmed: bool, tool: str
) -> Callable[..., Any]:
    """A resolver asking the user the question `question(deps, ...)` returns, or refusing when it cannot."""
    parameters, hints, takes_deps = _without_deps(question)
    context_name = next((p.name for p in parameters if hints.get(p.name) is Context), None)
    if context_name is None:
        context_name = "ctx"
        parameters.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))

    async def resolver(**kwargs: Any) -> Elicit[Confirm] | Confirm:
        ctx = kwargs[context_name]
        given = {k: v for k, v in kwargs.items() if k in {p.name for p in parameters} and k != "ctx"}
        if context_name == "ctx" and "ctx" not in inspect.signature(question).parameters:
            given.pop("ctx", None)
        asked = question(deps, **given) if takes_deps else question(**given)
        if inspect.isawaitable(asked):
            asked = await asked
        if not asked:
            return Confirm(confirm=True)
        caps = ctx.client_capabilities
        if caps is not None and caps.elicitation is not None:
            return Elicit(f"{asked}\nGo ahead?", Confirm)
        if allow_unconfirmed:
            return Confirm(confirm=True)
        raise UserError(
            f"Refused: {asked} This client cannot ask the user to confirm, and the operator has not allowed "
            "such operations without confirmation (--allow-destructive). Nothing was changed.",
            hint="Choose a narrower operation, or ask the user to do it themselves.",
        )

    resolver.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=Elicit[Confirm] | Confirm
    )
    resolver.__annotations__ = {p.name: p.annotation for p in parameters}
    resolver.__annotations__["return"] = Elicit[Confirm] | Confirm
    resolver.__name__ = resolver.__qualname__ = f"confirm_{tool}"
    resolver.__module__ = question.__module__
    return resolver


_CONFIRMATION = "confirmation"


def bind_tool(
    spec: ToolSpec,
    deps: Any,
    *,
    allow_unconfirmed: bool = False,
    reply: Callable[[Reply, ToolSpec], CallToolResult],
) -> Callable[..., Any]:
    """A callable for the SDK: `spec.fn` with `deps` bound, `Reply` turned into a result, confirmation asked.

    Its signature is the tool's own minus `deps` (plus a hidden resolved parameter when it confirms), so the
    SDK builds the same schema it would from the original function.
    """
    fn = spec.fn
    parameters, hints, takes_deps = _without_deps(fn)
    confirm = spec.confirm
    if confirm is not None:
        resolver = _confirmation_resolver(confirm, deps, allow_unconfirmed, spec.name)
        annotation = Annotated[ElicitationResult[Confirm], Resolve(resolver)]
        parameters.append(
            inspect.Parameter(_CONFIRMATION, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        )
    is_async = inspect.iscoroutinefunction(fn)

    def prepare(kwargs: dict[str, Any]) -> None:
        if confirm is None:
            return
        outcome = kwargs.pop(_CONFIRMATION)
        if outcome.action != "accept" or not outcome.data.confirm:
            raise UserError("The user did not confirm; nothing was changed.")

    def finish(value: Any) -> Any:
        return reply(value, spec) if isinstance(value, Reply) else value

    if is_async:

        @functools.wraps(fn)
        async def bound(*args: Any, **kwargs: Any) -> Any:
            prepare(kwargs)
            value = await (fn(deps, *args, **kwargs) if takes_deps else fn(*args, **kwargs))
            return finish(value)

    else:

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Any:
            prepare(kwargs)
            return finish(fn(deps, *args, **kwargs) if takes_deps else fn(*args, **kwargs))

    returns = _return_annotation(hints.get("return", inspect.Signature.empty))
    del bound.__wrapped__  # the SDK must read the signature below, not the original's
    bound.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    bound.__annotations__ = {
        p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty
    }
    if returns is not inspect.Signature.empty:
        bound.__annotations__["return"] = returns
    return bound
