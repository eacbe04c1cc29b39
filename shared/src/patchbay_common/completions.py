"""Completions for resource-template and prompt arguments: one handler, a provider per argument.

A server registers a provider for each argument with a finite domain:

    @mcp.complete("sqlite://{database}/table/{table}", "table")
    async def tables(value: str, arguments: dict[str, str], ctx: Any) -> Iterable[str]:
        ...

`ref` is the template's URI or the prompt's name. The provider returns candidates (it may use `value`, the
partial text, and the arguments already chosen); this module keeps those that start with `value` (case
folded), removes repeats, caps the answer at 100 values with `hasMore`, and bounds the time it may take.
A provider must apply the same access rules as the tools (never offer what a rule hides).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp_types import CompleteRequestParams, CompleteResult, Completion

from patchbay_common import sdk
from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger

__all__ = ["MAX_VALUES", "Completions", "Provider"]

MAX_VALUES = 100
_SECONDS = 2.0

Provider = Callable[[str, dict[str, str], Any], Iterable[str] | Awaitable[Iterable[str]]]
log = get_logger("patchbay.completions")


class Completions:
    """The `completion/complete` handler of one server and its providers."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self.providers: dict[tuple[str, str], Provider] = {}
        sdk.add_request_handler(server, "completion/complete", CompleteRequestParams, self._complete)

    def add(self, ref: str, argument: str, provider: Provider) -> None:
        """Complete `argument` of the template URI or prompt name `ref` with `provider`."""
        self.providers[(ref, argument)] = provider

    async def _complete(self, ctx: Any, params: CompleteRequestParams) -> CompleteResult:
        ref = getattr(params.ref, "uri", None) or getattr(params.ref, "name", "")
        provider = self.providers.get((str(ref), params.argument.name))
        empty = CompleteResult(completion=Completion(values=[], total=0, has_more=False))
        if provider is None:
            return empty
        value = params.argument.value or ""
        chosen = dict(params.context.arguments or {}) if params.context is not None else {}
        try:
            with anyio.fail_after(_SECONDS):
                if inspect.iscoroutinefunction(provider):
                    found = await provider(value, chosen, ctx)
                else:  # a plain function may block (a directory read): keep it off the event loop
                    found = await anyio.to_thread.run_sync(
                        provider, value, chosen, ctx, abandon_on_cancel=True
                    )
                    if inspect.isawaitable(found):
                        found = await found
                candidates = list(found)
        except (UserError, TimeoutError) as exc:
            log.info("completion gave nothing", ref=str(ref), argument=params.argument.name, reason=str(exc))
            return empty
        folded = value.casefold()
        seen: set[str] = set()
        values = []
        for candidate in candidates:
            if candidate not in seen and candidate.casefold().startswith(folded):
                seen.add(candidate)
                values.append(candidate)
        return CompleteResult(
            completion=Completion(
                values=values[:MAX_VALUES], total=len(values), has_more=len(values) > MAX_VALUES
            )
        )
