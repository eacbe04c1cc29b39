"""Answer a stateless JSON-mode request of the handshake era in one exchange, as the SDK answers the 2026 era.

With `--stateless --json-response`, the SDK serves each handshake-era POST (MCP-Protocol-Version 2025-11-25
and older) by building a whole session for it: a transport, memory streams, a JSON-RPC dispatcher and a
server task, all torn down after the one answer. The 2026-07-28 era's entry instead runs the request
straight through the server's kernel (`mcp.server.runner.serve_one`) in the HTTP task. In stateless JSON
mode the two are the same exchange (one request in, one answer out, no back channel, notifications with
no wire), so this module sends the common case, one JSON-RPC request other than `initialize`, down the
short path and leaves everything else to the SDK's transport: `initialize`, notifications, batches, bad
bodies, wrong media types. Host/Origin checks, the body size limit and authentication run as before.

Answers are the SDK's, byte for byte: the same result, and for a handler failure the same JSON-RPC error
the session path writes (`MCPError` and validation errors mapped the same way, anything else `code 0`
with its message). `install` is called by `patchbay_common.app.http_app` for stateless JSON-mode servers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data, progress_token_from_params
from mcp_types import DEFAULT_NEGOTIATED_VERSION, ErrorData, JSONRPCError, JSONRPCResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from patchbay_common import sdk

__all__ = ["install"]

logger = logging.getLogger("patchbay.single_exchange")


def install(manager: StreamableHTTPSessionManager) -> None:
    """Serve `manager`'s stateless JSON-mode requests in one exchange where they allow it."""
    if not (manager.stateless and manager.json_response):
        return
    session_path = sdk.stateless_handler(manager)
    security = TransportSecurityMiddleware(manager.security_settings)

    async def handle(protocol_version: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        await _handle(manager, session_path, security, protocol_version, scope, receive, send)

    sdk.set_stateless_handler(manager, handle)


async def _handle(
    manager: StreamableHTTPSessionManager,
    session_path: sdk.StatelessHandler,
    security: TransportSecurityMiddleware,
    protocol_version: str | None,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    request = Request(scope, receive)
    if request.method != "POST" or not _json_content(request) or not check_accept_headers(request)[0]:
        await session_path(protocol_version, scope, receive, send)  # its own answer (405, 406, 415, ...)
        return
    refusal = await security.validate_request(request, is_post=True)
    if refusal is not None:
        await refusal(scope, receive, send)
        return
    body = await request.body()
    message = _one_request(body)
    if message is None:  # initialize, a notification, a batch, a bad body: the SDK's transport answers
        await session_path(protocol_version, scope, _replay(body, receive), send)
        return
    request_id, method, params = message
    context = sdk.single_exchange_context(request_id, request, progress_token_from_params(params))
    connection = Connection.from_envelope(protocol_version or DEFAULT_NEGOTIATED_VERSION, None, None)
    answer: JSONRPCResponse | JSONRPCError
    try:
        result = await serve_one(
            manager.app,
            context,
            method,
            params,
            connection=connection,
            lifespan_state=sdk.lifespan_state(manager),
        )
    except Exception as exc:  # the session path's mapping (JSONRPCDispatcher), so both answer alike
        error = handler_exception_to_error_data(exc)
        if error is None:
            logger.exception("handler for %r raised", method)
            error = ErrorData(code=0, message=str(exc))
        answer = JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
    else:
        answer = JSONRPCResponse(jsonrpc="2.0", id=request_id, result=result)
    await Response(
        answer.model_dump_json(by_alias=True, exclude_unset=True),
        headers={"Content-Type": "application/json"},
    )(scope, receive, send)


def _json_content(request: Request) -> bool:
    """The SDK transport's own Content-Type test: `application/json`, parameters allowed."""
    content_type = request.headers.get("content-type", "")
    return any(part.strip() == "application/json" for part in content_type.split(";")[0].split(","))


def _one_request(body: bytes) -> tuple[str | int, str, dict[str, Any] | None] | None:
    """`(id, method, params)` when the body is exactly one well-formed JSON-RPC request but `initialize`."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict) or decoded.keys() - {"jsonrpc", "id", "method", "params"}:
        return None
    request_id, method, params = decoded.get("id"), decoded.get("method"), decoded.get("params")
    if (
        decoded.get("jsonrpc") != "2.0"
        or isinstance(request_id, bool)
        or not isinstance(request_id, (str, int))
        or not isinstance(method, str)
        or method == "initialize"
        or not (params is None or isinstance(params, dict))
    ):
        return None
    return request_id, method, params


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read handed out first, for the SDK's transport to read again."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
