"""Each private SDK attribute `patchbay_common.sdk` reaches, pinned to the behaviour patchbay relies on.

An SDK upgrade that renames or reshapes one of them fails here, in one place, with the name of the seam.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import Context
from mcp_types import EmptyResult, NotificationParams, SubscribeRequestParams

from patchbay_common import sdk
from patchbay_common.testing.clients import ERAS, connect

pytestmark = pytest.mark.anyio


def test_lowlevel_server_and_bus_are_reachable() -> None:
    server = MCPServer("adapter")
    assert isinstance(sdk.lowlevel(server), Server)
    assert hasattr(sdk.subscription_bus(server), "publish")
    assert sdk.request_handler(server, "subscriptions/listen") is not None  # MCPServer serves listen itself


def test_registered_tools_can_be_read_and_their_schema_edited() -> None:
    server = MCPServer("adapter")

    @server.tool()
    def pick(choice: str) -> str:
        return choice

    tool = sdk.registered_tool(server, "pick")
    assert tool is not None and [t.name for t in sdk.registered_tools(server)] == ["pick"]
    tool.parameters["properties"]["choice"]["enum"] = ["a", "b"]
    assert sdk.registered_tool(server, "pick").parameters["properties"]["choice"]["enum"] == ["a", "b"]  # type: ignore[union-attr]


async def test_subscribe_handler_is_served_and_advertised_and_removable() -> None:
    server = MCPServer("adapter")

    @server.resource("demo://x")
    def x() -> str:
        return "x"

    seen: list[str] = []

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        seen.append(str(params.uri))
        return EmptyResult()

    sdk.add_request_handler(server, "resources/subscribe", SubscribeRequestParams, subscribe)
    async with connect(server, era="legacy") as client:
        caps = client.initialize_result.capabilities if hasattr(client, "initialize_result") else None
        await client.subscribe_resource("demo://x")
    assert seen == ["demo://x"]
    if caps is not None:
        assert caps.resources is not None and caps.resources.subscribe
    sdk.remove_request_handler(server, "resources/subscribe")
    assert sdk.request_handler(server, "resources/subscribe") is None


async def test_notification_handler_is_called() -> None:
    server = MCPServer("adapter")
    called: list[bool] = []

    async def changed(ctx: Any, params: NotificationParams) -> None:
        called.append(True)

    sdk.add_notification_handler(server, "notifications/roots/list_changed", NotificationParams, changed)
    assert sdk.lowlevel(server).get_notification_handler("notifications/roots/list_changed") is not None


def test_list_changed_is_advertised_in_the_handshake_era() -> None:
    server = MCPServer("adapter")

    @server.tool()
    def t() -> str:
        return ""

    before = sdk.lowlevel(server).create_initialization_options().capabilities.tools
    sdk.advertise_list_changed(server, tools=True)
    after = sdk.lowlevel(server).create_initialization_options().capabilities.tools
    assert before is not None and not before.list_changed
    assert after is not None and after.list_changed


@pytest.mark.parametrize("era", ERAS)
async def test_connection_outlives_the_per_request_session(era: str) -> None:
    server = MCPServer("adapter")
    keys: list[Any] = []
    sessions: list[Any] = []

    @server.tool()
    async def who(ctx: Context) -> str:
        keys.append(sdk.connection_of(ctx))
        sessions.append(ctx.session)
        return "ok"

    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        await client.call_tool("who", {})
        await client.call_tool("who", {})
    assert sessions[0] is not sessions[1]  # a new session object per request ...
    if era == "legacy":
        assert keys[0] is keys[1]  # ... but one connection per client
        assert hasattr(keys[0], "exit_stack")  # whose teardown the subscription service hooks


def test_progress_channels_are_where_progress_wanted_reads_them() -> None:
    """`sdk.progress_wanted` reads each dispatch context's progress channel by its private name."""
    import dataclasses

    from mcp.server._streamable_http_modern import _SingleExchangeDispatchContext
    from mcp.server.session import ServerSession
    from mcp.shared.direct_dispatcher import _DirectDispatchContext
    from mcp.shared.jsonrpc_dispatcher import _JSONRPCDispatchContext

    for context, channel in (
        (_SingleExchangeDispatchContext, "progress_token"),
        (_JSONRPCDispatchContext, "_progress_token"),
        (_DirectDispatchContext, "_on_progress"),
    ):
        assert channel in {f.name for f in dataclasses.fields(context)}, context
        assert channel in sdk._PROGRESS_CHANNELS
    assert "self._request_outbound = request_outbound" in inspect.getsource(ServerSession.__init__)


async def test_the_stateless_handler_and_lifespan_state_are_where_single_exchange_reads_them() -> None:
    """`single_exchange` swaps the session manager's stateless handler and reads its lifespan state."""
    from patchbay_common.app import http_app
    from patchbay_common.settings import CommonSettings

    settings = CommonSettings(  # type: ignore[call-arg]
        _cli_parse_args=["--transport", "streamable-http", "--stateless", "--json-response"]
    )
    server = MCPServer("pinned")
    http_app(server, settings)
    manager = server.session_manager
    assert sdk.stateless_handler(manager).__name__ == "handle"  # ours, installed by http_app
    async with manager.run():
        assert sdk.lifespan_state(manager) is not None
    context = sdk.single_exchange_context(7, "request", "token")
    assert (context.request_id, context.message_metadata.request_context) == (7, "request")  # type: ignore[union-attr]
    assert not context.can_send_request


async def test_a_replaced_tool_manager_registers_lists_and_calls() -> None:
    from mcp.server.mcpserver.tools import ToolManager

    looked_up: list[str] = []

    class Counting(ToolManager):
        def get_tool(self, name: str) -> Any:
            looked_up.append(name)
            return super().get_tool(name)

    server = MCPServer("adapter")
    manager = Counting()
    sdk.set_tool_manager(server, manager)

    @server.tool()
    def pick(choice: str) -> str:
        return choice

    async with connect(server, era="legacy") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["pick"]
        assert not (await client.call_tool("pick", {"choice": "a"})).is_error
    assert "pick" in looked_up and [t.name for t in sdk.registered_tools(server)] == ["pick"]
