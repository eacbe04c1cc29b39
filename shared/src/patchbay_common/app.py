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

import hmac
import inspect
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio
import structlog
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import (
    CallToolResult,
    ErrorData,
    Icon,
    JSONRPCError,
    NotificationParams,
    TextContent,
    ToolAnnotations,
)
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from patchbay_common.client_roots import ClientRootsCache
from patchbay_common.errors import UserError, redact, register_secret
from patchbay_common.logs import configure_logging, get_logger, summarize_arguments
from patchbay_common.roots import Roots
from patchbay_common.settings import LOOPBACK_HOSTS, CommonSettings, parse_settings

__all__ = ["PatchbayServer", "http_app", "serve"]

S = TypeVar("S", bound=CommonSettings)
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

log = get_logger("patchbay")


class PatchbayServer(MCPServer[Any]):
    """An `MCPServer` whose every tool call is logged, bounded in time, and fails with a useful text."""

    def __init__(
        self,
        name: str,
        *,
        version: str,
        settings: CommonSettings | None = None,
        instructions: str | None = None,
        roots: Roots | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, version=version, instructions=instructions, **kwargs)
        self.patchbay_settings = settings or CommonSettings(_cli_parse_args=[])  # type: ignore[call-arg]
        self.roots = roots
        self.client_roots_cache = ClientRootsCache()
        self.calls_in_flight = 0  # read by the HTTP shutdown, which lets these finish first
        self.custom_route("/healthz", methods=["GET"], include_in_schema=False)(self._healthz)
        if roots is not None:
            self._lowlevel_server.add_notification_handler(
                "notifications/roots/list_changed", NotificationParams, self._roots_changed
            )
        # MCPServer's constructor installs the SDK's own log handler; route everything through ours again.
        if settings is not None:
            configure_logging(settings.log_level, settings.log_format)

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

    async def _roots_changed(self, ctx: Any, params: NotificationParams | None) -> None:
        log.info("client roots changed")
        self.client_roots_cache.forget(ctx)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": self.name, "version": self.version})

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        """Run one tool call with a request id, logging, a deadline and model-readable errors."""
        call_id = secrets.token_hex(6)
        started = time.perf_counter()
        self.calls_in_flight += 1
        try:
            return await self._logged_call(name, arguments, context, call_id, started)
        finally:
            self.calls_in_flight -= 1

    async def _logged_call(
        self,
        name: str,
        arguments: dict[str, Any],
        context: Context[Any, Any] | None,
        call_id: str,
        started: float,
    ) -> Any:
        timeout = self.patchbay_settings.tool_timeout
        with structlog.contextvars.bound_contextvars(request_id=call_id, tool=name):
            log.info("tool call started", arguments=summarize_arguments(arguments))
            try:
                with anyio.fail_after(timeout):
                    result = await super().call_tool(name, arguments, context)
            except TimeoutError:
                log.warning("tool call timed out", seconds=timeout)
                raise ToolError(
                    f"{name} did not finish within {timeout:g} s and was stopped. "
                    "Ask for less (a narrower path, query or page) or try again later."
                ) from None
            except UnexpectedToolError as exc:
                cause = exc.__cause__
                if isinstance(cause, UserError):
                    log.info("tool call refused", error=str(cause), ms=_ms(started))
                    raise ToolError(redact(str(cause))) from cause
                log.error("tool call crashed", ms=_ms(started), exc_info=cause or exc)
                raise ToolError(
                    f"{name} failed with an internal error (request id {call_id}); "
                    "the details are in the server log. Try again or use another tool."
                ) from exc
            except ToolError as exc:
                log.info("tool call rejected", error=str(exc), ms=_ms(started))
                raise ToolError(redact(str(exc))) from exc
            is_error = bool(getattr(result, "is_error", False))
            log.info("tool call finished", ms=_ms(started), error=is_error, chars=_result_chars(result))
            if is_error and isinstance(result, CallToolResult):
                for block in result.content:
                    if isinstance(block, TextContent):
                        block.text = redact(block.text)
            return result


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _result_chars(result: Any) -> int:
    blocks = getattr(result, "content", None) or []
    return sum(len(getattr(block, "text", "") or getattr(block, "data", "") or "") for block in blocks)


# --- HTTP -------------------------------------------------------------------------------------------------


class _BearerAuth:
    """ASGI middleware: every HTTP request but `/healthz` must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") != "/healthz":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps(
                    {"error": "unauthorized", "detail": "missing or wrong bearer token"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="patchbay"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


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
    """The ASGI app for the SSE or streamable HTTP transport, with auth when a token is set."""
    security = transport_security(settings)
    app: ASGIApp
    if settings.transport == "sse":
        app = server.sse_app(transport_security=security, host=settings.host)
    else:
        app = server.streamable_http_app(
            streamable_http_path="/mcp",
            json_response=settings.json_response,
            stateless_http=settings.stateless,
            transport_security=security,
            host=settings.host,
        )
    token = settings.bearer_token()
    return _BearerAuth(app, token) if token else app


# --- entry point ------------------------------------------------------------------------------------------


def serve(
    build: Callable[[S], MCPServer[Any]],
    settings_cls: type[S],
    argv: Sequence[str] | None = None,
    *,
    secret_env: Sequence[str] | None = None,
) -> None:
    """Parse flags, build the server with `build(settings)`, and run it until the client or a signal ends it.

    A bad flag or a configuration `build` rejects (`ValueError`, `UserError`) exits 2 with one line.
    `<prog> config <client> ...` prints or writes a client config entry instead (see `client_config`);
    `secret_env` names the environment variables written there as placeholders (default: those of the
    settings' secret fields).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["config"]:
        from patchbay_common.client_config import config_main

        package = settings_cls.model_config.get("cli_prog_name") or "patchbay"
        secrets_ = _secret_env(settings_cls) if secret_env is None else list(secret_env)
        raise SystemExit(config_main(package, args[1:], secrets_))
    settings = parse_settings(settings_cls, args)
    configure_logging(settings.log_level, settings.log_format)
    prog = settings_cls.model_config.get("cli_prog_name") or "patchbay"
    token = settings.bearer_token()
    register_secret(token)
    exposed = settings.transport != "stdio" and settings.host not in LOOPBACK_HOSTS
    if exposed and not token and not settings.allow_insecure_bind:
        _exit(
            prog,
            f"refusing to listen on {settings.host} without authentication: "
            "set --auth-token (or --auth-token-file), or pass --allow-insecure-bind",
        )
    try:
        server = build(settings)
    except (ValueError, UserError) as exc:
        _exit(prog, redact(str(exc)))
    try:
        if settings.transport == "stdio":
            anyio.run(_until_signal, server)
        else:
            log.info("server starting", server=server.name, transport=settings.transport)
            anyio.run(_serve_http, server, settings)
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        pass
    log.info("server stopped", server=server.name)


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
    from mcp.shared.message import SessionMessage

    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)

        async def forward() -> None:
            async with send:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        log.info("malformed message on stdin", error=str(item).splitlines()[0])
                        await write_stream.send(SessionMessage(_malformed_reply(item)))
                    else:
                        await send.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(forward)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()


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


async def _serve_http(server: MCPServer[Any], settings: CommonSettings) -> None:
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
    config = uvicorn.Config(
        http_app(server, settings),
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
        await http_server.serve()
        group.cancel_scope.cancel()
