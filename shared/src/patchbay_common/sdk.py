"""The one place that reaches into the SDK's private attributes.

`MCPServer` (mcp 2.x) keeps a few things patchbay needs behind underscore names: the low-level server
(to register `resources/subscribe` and notification handlers, which MCPServer does not expose), the
subscription bus (to publish 2026-era events), the tool manager (to edit a registered schema or list a
tool's registration), and the per-client connection behind each request's session. Every such use lives
here, each covered by a test in `shared/tests/test_sdk_adapter.py` pinned to the SDK behaviour it relies on,
so an SDK upgrade that moves one of them breaks this file loudly instead of a server quietly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import SubscriptionBus
from mcp.shared.dispatcher import DispatchContext
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from patchbay_common.tool_cache import CachedTools, PendingTool

__all__ = [
    "add_notification_handler",
    "add_request_handler",
    "advertise_list_changed",
    "connection_of",
    "lifespan_state",
    "lowlevel",
    "progress_wanted",
    "registered_tool",
    "registered_tools",
    "remove_request_handler",
    "request_handler",
    "set_stateless_handler",
    "set_tool_manager",
    "single_exchange_context",
    "stateless_handler",
    "subscription_bus",
]


def lowlevel(server: MCPServer[Any]) -> Server[Any]:
    """The low-level `Server` an `MCPServer` wraps."""
    return server._lowlevel_server


def subscription_bus(server: MCPServer[Any]) -> SubscriptionBus:
    """The bus that feeds 2026-era `subscriptions/listen` streams."""
    return server._subscriptions


def add_request_handler(
    server: MCPServer[Any],
    method: str,
    params_type: type[BaseModel],
    handler: Callable[[Any, Any], Awaitable[Any]],
) -> None:
    """Serve a request method MCPServer does not register (e.g. handshake-era `resources/subscribe`)."""
    server._lowlevel_server.add_request_handler(method, params_type, handler)


def remove_request_handler(server: MCPServer[Any], method: str) -> None:
    """Stop serving `method` (and stop advertising what its presence implies, e.g. subscriptions)."""
    server._lowlevel_server._request_handlers.pop(method, None)


def request_handler(server: MCPServer[Any], method: str) -> Callable[[Any, Any], Awaitable[Any]] | None:
    """The handler registered for `method`, if any (to wrap the SDK's own, e.g. `subscriptions/listen`)."""
    entry = server._lowlevel_server.get_request_handler(method)
    return None if entry is None else entry.handler


def add_notification_handler(
    server: MCPServer[Any],
    method: str,
    params_type: type[BaseModel],
    handler: Callable[[Any, Any], Awaitable[None]],
) -> None:
    """Handle a client notification MCPServer has no hook for (e.g. `notifications/roots/list_changed`)."""
    server._lowlevel_server.add_notification_handler(method, params_type, handler)


def advertise_list_changed(server: MCPServer[Any], *, tools: bool = False, resources: bool = False) -> None:
    """Advertise `listChanged` in the handshake era, which MCPServer always sends as false.

    The low-level server derives capabilities from the `NotificationOptions` its caller passes, and every
    transport calls `create_initialization_options()` with none; this fills them in for all of them.
    """
    low = server._lowlevel_server
    original = low.create_initialization_options
    wanted = NotificationOptions(tools_changed=tools, resources_changed=resources)

    def with_list_changed(
        notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(notification_options or wanted, *args, **kwargs)

    low.create_initialization_options = with_list_changed  # type: ignore[method-assign]


def registered_tool(server: MCPServer[Any], name: str) -> Tool | PendingTool | None:
    """The registration of a tool (its listed schema can be edited in place before the server runs).

    A tool listed from the schema cache is returned as it is, not built (`tool_cache.PendingTool`).
    """
    manager = server._tool_manager
    return manager.entry(name) if isinstance(manager, CachedTools) else manager.get_tool(name)


def registered_tools(server: MCPServer[Any]) -> list[Tool | PendingTool]:
    """Every registered tool, in registration order."""
    return list(server._tool_manager.list_tools())


def set_tool_manager(server: MCPServer[Any], manager: ToolManager) -> None:
    """Replace the server's tool manager (before any tool is registered)."""
    server._tool_manager = manager


def connection_of(ctx_or_session: Any) -> Any:
    """The object that lives as long as the client's connection (a request context or a session may be given).

    The SDK builds a new session object for every request, so the session is no key for per-client state;
    its private `_connection` is. Falls back to the session itself, so a key is always returned.
    """
    session = getattr(ctx_or_session, "session", ctx_or_session)
    return getattr(session, "_connection", session)


_PROGRESS_CHANNELS = ("progress_token", "_progress_token", "_on_progress")
"""Where the SDK's dispatch contexts keep a request's progress channel: HTTP single exchange, JSON-RPC
streams, in-process clients."""


def progress_wanted(ctx: Any) -> bool:
    """Whether the current request can receive progress: False only when it surely cannot.

    The SDK drops progress for a request that sent no progress token (and, in process, no callback), so a
    call need not run a ticker for it. An unknown dispatch context counts as wanting progress.
    """
    session = getattr(getattr(ctx, "request_context", None), "session", None)
    outbound: Any = getattr(session, "_request_outbound", None)
    while hasattr(outbound, "_inner"):  # a delegating context (the 2026 era's refusal of server requests)
        outbound = outbound._inner
    for name in _PROGRESS_CHANNELS:
        if hasattr(outbound, name):
            return getattr(outbound, name) is not None
    return True


StatelessHandler = Callable[[str | None, Scope, Receive, Send], Awaitable[None]]
"""How the session manager serves one stateless handshake-era request: `(protocol_version, scope, receive,
send)`."""


def stateless_handler(manager: StreamableHTTPSessionManager) -> StatelessHandler:
    """The session manager's handler of stateless handshake-era requests (a session built per request)."""
    return manager._handle_stateless_request


def set_stateless_handler(manager: StreamableHTTPSessionManager, handler: StatelessHandler) -> None:
    """Serve the session manager's stateless handshake-era requests with `handler` instead."""
    manager._handle_stateless_request = handler  # type: ignore[method-assign,assignment]


def lifespan_state(manager: StreamableHTTPSessionManager) -> Any:
    """What the server's lifespan yielded, held by the session manager while it runs."""
    return manager._lifespan_state


def single_exchange_context(request_id: Any, request: Any, progress_token: Any) -> DispatchContext[Any]:
    """The dispatch context the SDK's 2026-era entry gives one HTTP request.

    It has no back channel, and drops notifications (a JSON answer has no room for them).
    """
    return _SingleExchangeDispatchContext(
        transport=TransportContext(kind="streamable-http", can_send_request=False),
        request_id=request_id,
        message_metadata=ServerMessageMetadata(request_context=request, can_send_request=False),
        progress_token=progress_token,
    )
