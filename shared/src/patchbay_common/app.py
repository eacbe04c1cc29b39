"""Build and run a patchbay server: one `PatchbayServer` class and one `serve()` for every server.

`PatchbayServer` is the SDK's `MCPServer` with what every tool call must get right built in, so no tool
can forget it: a request id bound to every log line of the call, start/end/error log lines with redacted
arguments, an overall deadline, `UserError` shown to the model as an `isError` result with its hint,
any other exception reduced to a generic line naming the request id (traceback only in the log), and
secrets redacted from every error text.

`serve()` parses the shared flags, configures logging, refuses an unauthenticated non-loopback bind,
and runs stdio, SSE or streamable HTTP with Host/Origin checks on every bind, optional bearer auth,
`/healthz`, and a clean exit on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import math
import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    ErrorData,
    GetPromptResult,
    Icon,
    InputRequiredResult,
    JSONRPCError,
    NotificationParams,
    TextContent,
    ToolAnnotations,
)
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import patchbay_common.telemetry as telemetry
from patchbay_common import notify, sdk
from patchbay_common.completions import Completions
from patchbay_common.errors import NotFound, UserError, redact, register_secret
from patchbay_common.launch import start_done
from patchbay_common.limits import set_cursor_scope
from patchbay_common.logs import bind_call, configure_logging, get_logger, log_call, reset_call
from patchbay_common.results import (
    Reply,
    cap_error,
    cap_prompt,
    cap_result,
    cap_text_to,
    frame_result,
    replied,
    reply_result,
)
from patchbay_common.schemas import portable
from patchbay_common.settings import LOOPBACK_HOSTS, CommonSettings, parse_settings
from patchbay_common.subscriptions import Subscriptions
from patchbay_common.tool_cache import CachedTools, SchemaCache
from patchbay_common.toolsets import READ, Toolset, ToolSpec, bind_tool
from patchbay_common.untrusted import wrap_untrusted
from patchbay_common.warmup import Warmup

if TYPE_CHECKING:
    from patchbay_common.client_roots import ClientRootsCache
    from patchbay_common.roots import Roots

__all__ = ["PatchbayServer", "close_after_last_connection", "http_app", "run_loop", "serve"]

S = TypeVar("S", bound=CommonSettings)
F = TypeVar("F", bound=Callable[..., Any])
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

log = get_logger("patchbay")


class PatchbayServer(MCPServer[Any]):
    """An `MCPServer` where a tool declares and the server enforces.

    Tools are declared with their access, whether their output is outside-world content, and whether they
    ask for confirmation (`tool(...)` here, or a `Toolset` registered with `add_toolset`); the server lists
    only the tools whose access is granted, states their annotations, asks the user where declared, and
    passes every tool result, resource read and prompt through one pipeline (`results`): errors redacted and
    capped with their hint kept, outside content framed in text and structured form, output capped under
    one budget with one marker. Each call has a request id, a deadline and one log line.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str,
        settings: CommonSettings | None = None,
        instructions: str | None = None,
        roots: Roots | None = None,
        warm_imports: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        settings = settings or CommonSettings(_cli_parse_args=[])  # type: ignore[call-arg]
        if settings.transport == "streamable-http" and settings.json_response:
            kwargs.setdefault("subscriptions", False)  # a JSON answer cannot carry a listen stream
        super().__init__(name, version=version, instructions=instructions, **kwargs)
        # Schemas from the last start's cache, each rewritten so every provider accepts it (no $ref, no
        # exclusive bounds); a tool's argument model is built at its first call (`tool_cache`).
        self.tool_cache = SchemaCache.load(name)
        sdk.set_tool_manager(
            self,
            CachedTools(
                self.tool_cache, portable, warn_on_duplicate_tools=self.settings.warn_on_duplicate_tools
            ),
        )
        set_cursor_scope(name)
        self.patchbay_settings = settings
        self.roots = roots
        self.calls_in_flight = 0  # read by the HTTP shutdown, which lets these finish first
        self.tool_specs: dict[str, ToolSpec] = {}
        self._deadlines: _Deadlines | None = None
        self.client_log = notify.install(self)  # declares logging; honours logging/setLevel
        self._completions: Completions | None = None
        self._untrusted_resources: set[str] = set()
        self.custom_route("/healthz", methods=["GET"], include_in_schema=False)(self._healthz)
        if roots is not None:
            sdk.add_notification_handler(
                self, "notifications/roots/list_changed", NotificationParams, self._roots_changed
            )
        # Heavy modules the first call would import: imported in the background once a client is there.
        self.warmup = Warmup(warm_imports)
        if warm_imports:
            sdk.add_notification_handler(self, "notifications/initialized", NotificationParams, self._warm)
        # MCPServer's constructor installs the SDK's own log handler; route everything through ours again.
        configure_logging(settings.log_level, settings.log_format)
        if telemetry.wanted(settings):  # the OpenTelemetry SDK is imported only then
            telemetry.setup(self, settings)

    @functools.cached_property
    def client_roots_cache(self) -> ClientRootsCache:
        """Each connection's `roots/list` answer and the roots it narrows to (`client_roots`).

        Built on first use, so a server whose tools take no roots never imports the roots module.
        """
        from patchbay_common.client_roots import ClientRootsCache

        return ClientRootsCache()

    @property
    def max_chars(self) -> int:
        """The character budget of one answer (text and structured content together)."""
        return self.patchbay_settings.max_output_chars

    @property
    def back_channel(self) -> bool:
        """Whether handshake-era clients can be sent requests and notifications outside a call's answer."""
        return not self.patchbay_settings.stateless

    def complete(self, ref: str, argument: str) -> Callable[[F], F]:
        """Register a completion provider for `argument` of a template URI or prompt name (`completions`)."""

        def register(provider: F) -> F:
            if self._completions is None:
                self._completions = Completions(self)
            self._completions.add(ref, argument, provider)
            return provider

        return register

    def subscriptions(self, **hooks: Any) -> Subscriptions:
        """Serve resource subscriptions in both eras with these hooks (see `subscriptions`)."""
        return Subscriptions(self, legacy=self.back_channel, **hooks)

    # --- declaring tools -----------------------------------------------------------------------------------

    def tool(
        self,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        *,
        access: str = READ,
        untrusted: str | None = None,
        destructive: bool = False,
        idempotent: bool | None = None,
        open_world: bool = False,
        confirm: Callable[..., Any] | None = None,
        continuation: str | None = None,
        allow_unconfirmed: bool = False,
    ) -> Callable[[F], F]:
        """Register a tool from its declaration (see `patchbay_common.toolsets`); `deps` is not bound here."""

        def register(fn: F) -> F:
            spec = ToolSpec(
                fn=fn,
                name=name or fn.__name__,
                toolset="",
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
            self.add_spec(
                spec,
                None,
                description=description,
                annotations=annotations,
                icons=icons,
                meta=meta,
                allow_unconfirmed=allow_unconfirmed,
            )
            return fn

        return register

    def add_toolset(
        self,
        toolset: Toolset,
        deps: Any,
        *,
        access: Iterable[str] = (READ,),
        only: Callable[[ToolSpec], bool] | None = None,
        allow_unconfirmed: bool = False,
    ) -> list[str]:
        """Register the tools of `toolset` whose access is granted (and `only` keeps); return their names.

        Tools whose access is not granted are not registered at all, so they are neither listed nor callable.
        """
        names = []
        for spec in toolset.granted(access):
            if only is None or only(spec):
                self.add_spec(spec, deps, allow_unconfirmed=allow_unconfirmed)
                names.append(spec.name)
        return names

    def add_spec(
        self,
        spec: ToolSpec,
        deps: Any,
        *,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        allow_unconfirmed: bool = False,
    ) -> None:
        """Register one declared tool with `deps` bound as its first argument."""
        bound = bind_tool(spec, deps, allow_unconfirmed=allow_unconfirmed, reply=self._reply)
        self.tool_specs[spec.name] = spec
        self.add_tool(
            bound,
            name=spec.name,
            title=spec.title,
            description=description,
            annotations=annotations or spec.annotations(),
            icons=icons,
            meta=meta,
            structured_output=spec.structured_output,
        )

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """Register a tool; a docstring description is dedented so the model sees no stray indentation."""
        if description is None and fn.__doc__:
            description = inspect.cleandoc(fn.__doc__)
        super().add_tool(fn, name, title, description, annotations, icons, meta, structured_output)

    def _reply(self, reply: Reply, spec: ToolSpec) -> CallToolResult:
        return reply_result(reply, spec.untrusted)

    # --- resources and prompts -----------------------------------------------------------------------------

    def resource(self, uri: str, *, untrusted: str | None = None, **kwargs: Any) -> Callable[[F], F]:
        """Register a resource; `untrusted=` names the source of outside content, which is then framed."""
        register = super().resource(uri, **kwargs)
        if untrusted is None:
            return register

        def framed(fn: F) -> F:
            @functools.wraps(fn)
            async def read(*args: Any, **kw: Any) -> Any:
                value = fn(*args, **kw)
                if inspect.isawaitable(value):
                    value = await value
                return wrap_untrusted(value, untrusted) if isinstance(value, str) else value

            register(read)
            return fn

        return framed

    async def read_resource(self, uri: Any, context: Context[Any, Any] | None = None) -> Any:
        """Read a resource through the pipeline: errors with their hint kept, text capped under the budget.

        The read's context is the current call's (`notify.current_call`) meanwhile, so a static resource,
        which the SDK gives no context, can still find whose state to read (`principals.principal_key`).
        """
        call_token = notify.current_call.set(context)
        try:
            contents = await super().read_resource(uri, context)
        except Exception as exc:
            cause = _user_error(exc)
            if cause is None:
                raise
            log.info("resource read refused", uri=str(uri), error=cap_error(str(cause), 300))
            kind = ResourceNotFoundError if isinstance(cause, NotFound) else ResourceError
            raise kind(cap_error(str(cause))) from None
        finally:
            notify.current_call.reset(call_token)
        if isinstance(contents, InputRequiredResult):
            return contents
        capped = []
        for item in contents:
            if isinstance(item.content, str) and len(item.content) > self.max_chars:
                item = replace(item, content=cap_text_to(item.content, self.max_chars, _RESOURCE_HOW))
            capped.append(item)
        return capped

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> Any:
        """Render a prompt through the pipeline: a refusal becomes a clear error; text stays under budget."""
        try:
            result = await super().get_prompt(name, arguments, context)
        except Exception as exc:
            cause = _user_error(exc)
            if cause is None:
                raise
            raise MCPError(INVALID_PARAMS, cap_error(str(cause))) from None
        if isinstance(result, GetPromptResult):
            result = cap_prompt(result, self.max_chars)
        return result

    async def _warm(self, ctx: Any, params: NotificationParams | None) -> None:
        self.warmup.start_soon()

    async def list_tools(self) -> Any:
        """The tools, as the SDK lists them; the first listing also starts the warm-up imports (soon)."""
        self.warmup.start_soon()
        return await super().list_tools()

    async def _roots_changed(self, ctx: Any, params: NotificationParams | None) -> None:
        log.info("client roots changed")
        self.client_roots_cache.forget(ctx)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": self.name, "version": self.version})

    # --- calling tools -------------------------------------------------------------------------------------

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        """Run one tool call with a request id, a deadline, the result pipeline and one log line."""
        # An id to find the call's log lines by, not a secret: a fast random 48 bits (reseeded after a fork).
        call_id = (telemetry.enabled and telemetry.trace_id()) or f"{random.getrandbits(48):012x}"
        started = time.perf_counter()
        self.calls_in_flight += 1
        outcome = "ok"
        chars = 0
        cut = False
        failure: BaseException | None = None
        log_token = bind_call(call_id, name)
        seen = [False]
        replied_token = replied.set(seen)
        call_token = notify.current_call.set(context)
        try:
            try:
                result = await self._run_tool(name, arguments, context, call_id)
            except ToolError as exc:
                outcome = "refused"
                failure = exc
                text = cap_error(str(exc))
                await notify.log_to_client("warning", f"{name} refused: {text}")
                raise ToolError(text) from exc
            if isinstance(result, CallToolResult):
                result, cut = self._finish(name, result, framed=seen[0])
                chars = _result_chars(result)
                if result.is_error:
                    outcome = "error"
                elif cut:
                    limit = self.max_chars
                    await notify.log_to_client("notice", f"{name}: the answer was cut to {limit} characters")
            return result
        finally:
            reset_call(log_token)
            replied.reset(replied_token)
            notify.current_call.reset(call_token)
            self.calls_in_flight -= 1
            if telemetry.enabled:
                telemetry.tool_call_done(name, outcome, failure, chars, cut, arguments)
            log_call(
                "tool call",
                arguments,
                request_id=call_id,
                tool=name,
                outcome=outcome,
                ms=_ms(started),
                chars=chars,
            )

    async def _run_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None, call_id: str
    ) -> Any:
        timeout = self.patchbay_settings.tool_timeout
        deadlines = self._deadlines_here()
        try:
            if deadlines is None:  # not on asyncio: anyio's own timer for this one call
                scope = anyio.CancelScope(deadline=anyio.current_time() + timeout)
            else:
                scope = anyio.CancelScope()
            with scope:
                if deadlines is not None:
                    deadlines.add(scope, deadlines.loop.time() + timeout)
                try:
                    return await super().call_tool(name, arguments, context)
                finally:
                    if deadlines is not None:
                        deadlines.pending.pop(scope, None)
            if scope.cancelled_caught:
                raise TimeoutError
            raise TimeoutError  # pragma: no cover - a cancelled scope is the only way here
        except TimeoutError:
            raise ToolError(
                f"{name} did not finish within {timeout:g} s and was stopped. "
                "Ask for less (a narrower path, query or page) or try again later."
            ) from None
        except UnexpectedToolError as exc:
            cause = _user_error(exc)
            if cause is not None:
                raise ToolError(str(cause)) from cause
            log.error("tool call crashed", exc_info=exc.__cause__ or exc)
            raise ToolError(
                f"{name} failed with an internal error (request id {call_id}); "
                "the details are in the server log. Try again or use another tool."
            ) from exc

    def _deadlines_here(self) -> _Deadlines | None:
        """Deadline keeper of the running asyncio loop; a server may run on several loops in turn."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another anyio backend
            return None
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = _Deadlines(loop)
        return deadlines

    def _finish(
        self, name: str, result: CallToolResult, *, framed: bool = False
    ) -> tuple[CallToolResult, bool]:
        """The pipeline every successful or `isError` tool result goes through; also says if it was cut.

        `framed`: the tool answered with a `Reply`, whose content is framed already and whose note is ours.
        """
        spec = self.tool_specs.get(name)
        if result.is_error:
            blocks = [
                b.model_copy(update={"text": cap_error(b.text)}) if isinstance(b, TextContent) else b
                for b in result.content
            ]
            return result.model_copy(update={"content": blocks}), False
        if spec is not None and spec.untrusted is not None and not framed:
            result = frame_result(result, spec.untrusted)
        capped = cap_result(result, self.max_chars, spec.continuation if spec else None)
        return capped, capped is not result


class _Deadlines:
    """Deadlines of the tool calls in flight on one asyncio loop, watched by one timer instead of one each.

    `anyio.CancelScope(deadline=...)` arms an event-loop timer per call. Here each call registers its scope
    and deadline; the one timer is re-armed only for a deadline earlier than the one it waits for (with one
    `--tool-timeout`, hardly ever), and when it fires it cancels every overdue scope as anyio's timer would
    (`scope.cancel`), then waits for the earliest deadline left. A finished call just leaves the table.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[anyio.CancelScope, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf

    def add(self, scope: anyio.CancelScope, deadline: float) -> None:
        """Cancel `scope` at `deadline` (loop time) unless the call has left the table by then."""
        self.pending[scope] = deadline
        if deadline < self._armed_for:
            self._arm(deadline)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = when
        self._timer = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._armed_for = math.inf
        now = self.loop.time()
        earliest = math.inf
        for scope, deadline in list(self.pending.items()):
            if deadline <= now:
                del self.pending[scope]
                scope.cancel("deadline exceeded")
            else:
                earliest = min(earliest, deadline)
        if earliest < math.inf:
            self._arm(earliest)


def close_after_last_connection(
    close: Callable[[], Awaitable[None]],
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A server lifespan that runs `close` when the last client connection ends, not when any one does.

    Over SSE the SDK runs the lifespan once per client connection, so closing shared resources (pools,
    databases, open results) in a plain lifespan would end them for every other client.
    """
    active = 0

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        nonlocal active
        active += 1
        try:
            yield
        finally:
            active -= 1
            if active == 0:
                with anyio.CancelScope(shield=True):
                    await close()

    return lifespan


_RESOURCE_HOW = "read a narrower resource or use the matching tool, which pages"


def _user_error(exc: BaseException) -> UserError | None:
    """The `UserError` an SDK wrapper exception was raised from, if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _result_chars(result: Any) -> int:
    blocks = getattr(result, "content", None) or []
    return sum(len(getattr(block, "text", "") or getattr(block, "data", "") or "") for block in blocks)


# --- HTTP -------------------------------------------------------------------------------------------------

import contextlib  # noqa: E402 - kept with the entry-point code that uses them
import errno  # noqa: E402
import socket  # noqa: E402


def transport_security(settings: CommonSettings) -> TransportSecuritySettings:
    """Host and Origin checks for any bind address: loopback names, the bound host, and the extras given."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if settings.host not in LOOPBACK_HOSTS and settings.host not in ("0.0.0.0", "::"):  # noqa: S104
        hosts.append(f"[{settings.host}]:*" if ":" in settings.host else f"{settings.host}:*")
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *settings.allowed_host],
        allowed_origins=[*origins, *settings.allowed_origin],
    )


def http_app(server: MCPServer[Any], settings: CommonSettings) -> ASGIApp:
    """The ASGI app for the SSE or streamable HTTP transport, with OAuth or the static token when set."""
    security = transport_security(settings)
    # Imported here, by HTTP only: a stdio server starts without them.
    from patchbay_common import auth
    from patchbay_common.events import event_store

    app: ASGIApp
    if settings.transport == "sse":
        app = server.sse_app(transport_security=security, host=settings.host)
    else:
        # Sessions with SSE answers can resume after a drop (Last-Event-ID); stateless or JSON answers cannot.
        resumable = not settings.stateless and not settings.json_response
        app = server.streamable_http_app(
            streamable_http_path="/mcp",
            json_response=settings.json_response,
            stateless_http=settings.stateless,
            event_store=event_store(settings.event_store) if resumable else None,
            transport_security=security,
            host=settings.host,
        )
        if settings.stateless and settings.json_response:  # one request in, one answer out: no session built
            from patchbay_common import single_exchange

            single_exchange.install(server.session_manager)
    if telemetry.enabled and not settings.metrics_public:
        app = telemetry.with_metrics(app)  # /metrics behind the same auth as the rest
    setup = auth.auth_setup(settings, server.name)
    if setup is None:
        return app
    access = functools.partial(_tool_access, server)
    if setup.oauth and not any(isinstance(m, auth.ScopeGate) for m in server.middleware):
        server.middleware.append(auth.ScopeGate(setup.policy, access))
    return auth.HttpAuth(app, setup, access)


def _tool_access(server: MCPServer[Any], name: str) -> str | None:
    """The access a tool needs (its declaration, else its read-only hint), or None for an unknown tool."""
    spec = getattr(server, "tool_specs", {}).get(name)
    if spec is not None:
        return str(spec.access)
    tool = sdk.registered_tool(server, name)
    if tool is None:
        return None
    hints = tool.annotations
    return READ if hints is not None and hints.read_only_hint else "write"


# --- entry point ------------------------------------------------------------------------------------------


def serve(
    build: Callable[[S], MCPServer[Any]],
    settings_cls: type[S],
    argv: Sequence[str] | None = None,
    *,
    secret_env: Sequence[str] | None = None,
    preflight: Callable[[S], Sequence[str]] | None = None,
    per_user_state: bool = False,
) -> None:
    """Parse flags, build the server with `build(settings)`, and run it until the client or a signal ends it.

    Every operator mistake ends with one line on stderr and exit status 2, never a traceback: a bad flag or
    variable, a configuration `build` rejects (`ValueError`, `UserError`, an unreadable file), a port in
    use. `<prog> config <client> ...` prints or writes a client config entry instead (see `client_config`);
    `secret_env` names the secret variables the server needs (written there as placeholders); the
    settings' other secret fields are written only when asked for. `preflight(settings)` runs cheap
    start-up checks (a token present, a database reachable) and returns one line per problem, each with
    its fix: logged as warnings, or with `--strict` a refusal to start. `per_user_state`: the server keeps
    state one user must not see (a browser's cookies), so it refuses unauthenticated streamable HTTP unless
    the operator passes `--single-user`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    prog = settings_cls.model_config.get("cli_prog_name") or "patchbay"
    try:
        if args[:1] == ["config"]:
            from patchbay_common.client_config import config_main

            required = list(secret_env or ())
            optional = [name for name in _secret_env(settings_cls) if name not in required]
            status = config_main(
                prog, args[1:], required, optional_secrets=optional, settings_cls=settings_cls
            )
            raise SystemExit(status)
        _serve(build, settings_cls, args, prog, preflight, per_user_state)
    except BrokenPipeError:  # the reader of stdout went away (`| head`, a client that quit): leave quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def _serve(
    build: Callable[[S], MCPServer[Any]],
    settings_cls: type[S],
    args: list[str],
    prog: str,
    preflight: Callable[[S], Sequence[str]] | None,
    per_user_state: bool = False,
) -> None:
    settings = parse_settings(settings_cls, args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        token = settings.bearer_token()
        register_secret(token)
        authenticated = False
        if settings.transport != "stdio":
            from patchbay_common import auth  # HTTP only: a stdio server starts without it

            authenticated = auth.auth_setup(settings) is not None
    except ValueError as exc:
        _exit(prog, str(exc))
    exposed = settings.transport != "stdio" and settings.host not in LOOPBACK_HOSTS
    if exposed and not authenticated and not settings.allow_insecure_bind:
        _exit(
            prog,
            f"refusing to listen on {settings.host} without authentication: set --oauth-issuer, or "
            "--auth-token (or --auth-token-file), or pass --allow-insecure-bind",
        )
    _run_preflight(prog, settings, preflight)
    listener = _bind(prog, settings) if settings.transport != "stdio" else None
    if per_user_state:  # after the bind: a busy port is the first thing to fix
        _refuse_shared_user_state(prog, settings)
    if settings.workers > 1:
        raise SystemExit(_serve_workers(build, prog, settings, listener, per_user_state))
    server = _build_server(build, prog, settings)
    start_done()  # what the start created is frozen out of collection, which resumes (`launch`)
    try:
        if listener is None:
            run_loop(_until_signal, server)
        else:
            log.info(
                "server starting", server=server.name, transport=settings.transport, **_clients(settings)
            )
            run_loop(_serve_http, server, settings, listener)
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        pass
    log.info("server stopped", server=server.name)


def run_loop(main: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """`anyio.run(main, *args)` on uvloop where it can be imported, else on asyncio's own loop.

    The one place every transport (stdio, SSE, streamable HTTP, each `--workers` process) gets its event
    loop. uvloop's callbacks and thread wake-ups are cheaper, and a stdio call is mostly those: the SDK
    reads stdin and writes stdout in worker threads, three hand-offs a call (issue 22). No uvloop on Windows.
    """
    anyio.run(main, *args, backend_options={"use_uvloop": _uvloop_importable()})


def _uvloop_importable() -> bool:
    """Whether uvloop is there and imports (about 5 ms once asyncio is loaded); never on Windows."""
    if sys.platform == "win32":  # anyio would look for winloop instead
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


# --- one user or many (per-principal state, `principals`) -------------------------------------------------

_ONE_USER = (
    "without authentication, 2026-era requests carry nothing that tells two clients apart, so every such "
    "client is served as one user (their state is shared); set --auth-token or OAuth to separate users"
)


def _clients(settings: CommonSettings) -> dict[str, str]:
    """What the HTTP start-up line says about telling clients apart (nothing when users authenticate)."""
    if settings.transport == "streamable-http" and not settings.authenticates():
        return {"clients": _ONE_USER}
    return {}


def _refuse_shared_user_state(prog: str, settings: CommonSettings) -> None:
    """Refuse (exit 2) to serve per-user state over streamable HTTP to clients it cannot tell apart.

    Without authentication, state kept between calls falls back to the connection (handshake era) or to
    one shared key (2026 era, `principals.SINGLE_USER`), so a browser's cookies and tabs would be shared by
    every 2026-era client; that is only right when the operator says the server serves one user.
    """
    if _clients(settings) and not settings.single_user:
        _exit(
            prog,
            "refusing to serve streamable HTTP without authentication: this server keeps per-user state "
            "(cookies, tabs) that every 2026-era client would share; set --auth-token (or OAuth), or pass "
            "--single-user if it serves one user",
        )


def _build_server(build: Callable[[S], MCPServer[Any]], prog: str, settings: S) -> MCPServer[Any]:
    """`build(settings)`, with a configuration it rejects said in one line (exit status 2).

    The schemas of the tools built this time are written to the tool cache, for the next start.
    """
    try:
        server = build(settings)
        if isinstance(server, PatchbayServer):
            server.tool_cache.save()
        return server
    except (ValueError, UserError) as exc:
        _exit(prog, redact(str(exc)))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _exit(prog, redact(f"cannot use{where}: {exc.strerror or exc}"))
    raise AssertionError("unreachable")  # pragma: no cover - _exit raises


def _run_preflight(prog: str, settings: S, preflight: Callable[[S], Sequence[str]] | None) -> None:
    """Log each start-up problem `preflight` finds as one warning; with `--strict`, refuse the first."""
    if preflight is None:
        return
    try:
        problems = [redact(problem) for problem in preflight(settings)]
    except Exception as exc:  # a check that breaks must not stop a server that would work
        problems = [redact(f"start-up check could not run: {type(exc).__name__}: {exc}")]
    if problems and settings.strict:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        _exit(prog, f"{problems[0]}{more}; refusing to start (--strict)")
    for problem in problems:
        log.warning("start-up check: " + problem, server=prog)


def _bind(prog: str, settings: CommonSettings) -> socket.socket:
    """The socket for the HTTP transports, bound now so a busy port is one clear line (listened on later)."""
    try:
        infos = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        _exit(prog, f"--host {settings.host}: cannot resolve it ({exc.strerror})")
    if settings.workers > 1:  # refused before anything is bound: one line, not a half-started server
        from patchbay_common.workers import check_workers

        problem = check_workers(settings)
        if problem:
            _exit(prog, problem)
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        if settings.workers > 1:
            from patchbay_common.workers import reuse_port

            reuse_port(listener)
        if sys.platform == "win32":  # SO_REUSEADDR there lets another process steal the port
            listener.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", 0), 1)
        else:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Bound, not listening: until the server is built and serving (uvicorn's create_server listens),
        # connections are refused at once, so a proxy tries another replica instead of queueing behind
        # a start-up that may take seconds. A port another server listens on still fails here.
        listener.bind(address)
    except OSError as exc:
        listener.close()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            reason = "the port is in use by another program; choose another with --port"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            reason = "permission denied; ports below 1024 need privileges, choose --port 1024 or above"
        elif exc.errno == errno.EADDRNOTAVAIL:
            reason = "this machine has no such address; check --host"
        else:
            reason = exc.strerror or str(exc)
        _exit(prog, f"cannot listen on {settings.host}:{settings.port}: {reason}")
    listener.set_inheritable(False)
    return listener


_STDIO_GRACE_SECONDS = 1.0
_HTTP_DRAIN_SECONDS = 30.0
_PARSE_ERROR, _INVALID_REQUEST = -32700, -32600
_LEADING_ID = re.compile(r'^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"[^"\\]{0,200}")')


async def _serve_stdio(server: MCPServer[Any]) -> None:
    """`MCPServer.run_stdio_async`, except that a malformed line gets its JSON-RPC error.

    The SDK's stdio transport hands a line it cannot parse to the dispatcher, which only logs it, so a
    client that sent a broken request would wait forever; over HTTP the same line gets an error at once.
    """
    from mcp.server.stdio import stdio_server

    lowlevel = sdk.lowlevel(server)
    async with stdio_server() as (read_stream, write_stream):
        messages = _AnsweringMalformed(read_stream, write_stream)
        await lowlevel.run(messages, write_stream, lowlevel.create_initialization_options())


class _AnsweringMalformed(ObjectReceiveStream[Any]):
    """stdin's messages, with each line that is not a message answered with its JSON-RPC error and skipped.

    A wrapper rather than a forwarding task and a second stream: every message would pay that extra hop.
    """

    def __init__(self, messages: ObjectReceiveStream[Any], replies: ObjectSendStream[Any]) -> None:
        self._messages = messages
        self._replies = replies

    async def receive(self) -> Any:
        from mcp.shared.message import SessionMessage

        while True:
            item = await self._messages.receive()
            if not isinstance(item, Exception):
                return item
            log.info("malformed message on stdin", error=str(item).splitlines()[0])
            await self._replies.send(SessionMessage(_malformed_reply(item)))

    async def aclose(self) -> None:
        await self._messages.aclose()


def _malformed_reply(error: Exception) -> JSONRPCError:
    """The JSON-RPC error for a line that is not valid JSON (-32700) or not a valid message (-32600)."""
    details = error.errors() if isinstance(error, ValidationError) else []
    if not details or any(item["type"] == "json_invalid" for item in details):
        # Too deeply nested is well-formed JSON the parser refused: its leading id can still be answered.
        too_deep = details and "recursion limit" in details[0]["msg"]
        head = _LEADING_ID.match(str(details[0].get("input", ""))) if too_deep else None
        recovered = json.loads(head.group(1)) if head else None
        return JSONRPCError(
            jsonrpc="2.0", id=recovered, error=ErrorData(code=_PARSE_ERROR, message="Parse error")
        )
    request_id = None
    for item in details:  # "missing" errors carry the whole message as their input: take its id from there
        found = item.get("input")
        if isinstance(found, dict) and isinstance(found.get("id"), str | int):
            request_id = found["id"]
            break
    return JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=ErrorData(code=_INVALID_REQUEST, message="Invalid Request: not a valid JSON-RPC 2.0 message"),
    )


def _exit_now() -> None:
    logging.shutdown()
    os._exit(0)


def _secret_env(settings_cls: type[CommonSettings]) -> list[str]:
    """Environment variable names of the settings' secret fields (the HTTP auth token aside)."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    return [
        f"{prefix}{name}".upper()
        for name, field in settings_cls.model_fields.items()
        if "SecretStr" in str(field.annotation) and name != "auth_token"
    ]


def _exit(prog: str, message: str) -> None:
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


async def _until_signal(server: MCPServer[Any]) -> None:
    """Serve stdio until the client closes it or SIGTERM/SIGINT arrives, then return normally."""
    if sys.platform == "win32":  # no signal receivers there: Ctrl-C and closing stdin end the server
        log.info("server starting", server=server.name, transport="stdio")
        await _serve_stdio(server)
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                async for received in signals:
                    log.info("signal received; shutting down", signal=signal.Signals(received).name)
                    group.cancel_scope.cancel()
                    # The SDK reads stdin in a worker thread that no cancellation can wake; give in-flight
                    # calls a moment to unwind, then leave without waiting for that read.
                    threading.Timer(_STDIO_GRACE_SECONDS, _exit_now).start()
                    return

            group.start_soon(watch)
            log.info("server starting", server=server.name, transport="stdio")
            await _serve_stdio(server)
            group.cancel_scope.cancel()


def _serve_workers(
    build: Callable[[S], MCPServer[Any]],
    prog: str,
    settings: S,
    listener: socket.socket | None,
    per_user_state: bool,
) -> int:
    """`--workers N`: N forked processes, each building its own server, serving one port (`workers`)."""
    from patchbay_common.workers import check_workers, listeners, supervise

    problem = check_workers(settings)  # HTTP was checked before the bind already; stdio is refused here
    if problem or listener is None:
        _exit(prog, problem or "--workers needs --transport streamable-http --stateless")
    assert listener is not None
    if per_user_state:  # cookies and tabs would live in one worker each, and a user's requests reach any
        listener.close()
        _exit(prog, f"--workers {settings.workers}: this server keeps per-user state in memory; use one")

    def run(sock: socket.socket) -> None:
        server = _build_server(build, prog, settings)
        start_done()
        log.info("server starting", server=server.name, transport=settings.transport, pid=os.getpid())
        run_loop(_serve_http, server, settings, sock)

    start_done()  # before the forks: the workers share the start's pages instead of copying them
    status = supervise(listeners(listener, settings.workers), run)
    log.info("server stopped", server=prog, workers=settings.workers)
    return status


async def _serve_http(
    server: MCPServer[Any], settings: CommonSettings, listener: socket.socket | None = None
) -> None:
    import uvicorn  # only HTTP deployments pay for it

    class _QuietExitServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM after its graceful shutdown (exit -15); a clean stop exits 0 instead."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    from sse_starlette.sse import AppStatus

    # sse-starlette ends every SSE stream the moment shutdown starts, which would cut off the answer of a
    # tool call in flight. Streams are closed by `drain` below instead, once those calls have answered.
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    drain_seconds = min(settings.tool_timeout, _HTTP_DRAIN_SECONDS)
    app = http_app(server, settings)
    if telemetry.enabled and settings.metrics_public:
        app = telemetry.with_metrics(app)  # /metrics open to a scraper, before auth and Host checks
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=int(drain_seconds) + 5,
        server_header=False,
    )
    http_server = _QuietExitServer(config)

    async def drain() -> None:
        while not http_server.should_exit:  # noqa: ASYNC110 - uvicorn's flag has no event to wait on
            await anyio.sleep(0.1)
        deadline = anyio.current_time() + drain_seconds
        while getattr(server, "calls_in_flight", 0) and anyio.current_time() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.05)
        await anyio.sleep(0.2)  # let the last answers leave before their streams end
        log.info("in-flight calls drained; closing streams", left=getattr(server, "calls_in_flight", 0))
        AppStatus.should_exit = True

    async with anyio.create_task_group() as group:
        group.start_soon(drain)
        await http_server.serve(sockets=[listener] if listener is not None else None)
        group.cancel_scope.cancel()
