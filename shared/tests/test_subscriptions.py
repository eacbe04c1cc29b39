"""The subscription service: both eras, acquire/release per URI, refusals, cleanup, and --stateless."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ResourceUpdatedNotification

from patchbay_common.app import PatchbayServer
from patchbay_common.errors import UserError
from patchbay_common.settings import CommonSettings

pytestmark = pytest.mark.anyio


class Updates:
    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, ResourceUpdatedNotification):
            self.uris.append(str(root.params.uri))
            self.arrived.set()


def build(*flags: str) -> tuple[PatchbayServer, Any, list[str]]:
    settings = CommonSettings(_cli_parse_args=list(flags))  # type: ignore[call-arg]
    mcp = PatchbayServer("subs-test", version="0", settings=settings)
    events: list[str] = []

    @mcp.resource("demo://{name}")
    def demo(name: str) -> str:
        return name

    async def check(ctx: Any, uri: str) -> None:
        if "secret" in uri:
            raise UserError(f"{uri} cannot be watched.", hint="Watch another resource.")

    async def acquire(uri: str) -> None:
        events.append(f"+{uri}")

    async def release(uri: str) -> None:
        events.append(f"-{uri}")

    subs = mcp.subscriptions(check=check, acquire=acquire, release=release)
    return mcp, subs, events


async def test_handshake_era_subscribe_publish_unsubscribe_and_cleanup() -> None:
    mcp, subs, events = build()
    updates = Updates()
    async with Client(mcp, mode="legacy", message_handler=updates) as client:
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe is True
        await client.subscribe_resource("demo://a")
        await client.subscribe_resource("demo://a")  # twice from one connection counts once
        assert events == ["+demo://a"]
        await subs.publish("demo://a")
        with anyio.fail_after(5):
            await updates.arrived.wait()
        assert updates.uris == ["demo://a"]
        with pytest.raises(MCPError) as refused:
            await client.subscribe_resource("demo://secret")
        assert refused.value.error.code == -32602
        assert "demo://secret cannot be watched. Watch another resource." in refused.value.error.message
        await client.subscribe_resource("demo://b")
        await client.unsubscribe_resource("demo://a")
        assert events == ["+demo://a", "+demo://b", "-demo://a"]
    await anyio.sleep(0.1)
    assert events[-1] == "-demo://b"  # the closed connection released what it watched
    assert not subs.watched("demo://b")


async def test_two_connections_share_one_acquisition() -> None:
    mcp, subs, events = build()
    async with Client(mcp, mode="legacy") as one:
        await one.subscribe_resource("demo://a")
        async with Client(mcp, mode="legacy") as two:
            await two.subscribe_resource("demo://a")
        await anyio.sleep(0.1)
        assert events == ["+demo://a"] and subs.watched("demo://a")
    await anyio.sleep(0.1)
    assert events == ["+demo://a", "-demo://a"]


async def test_modern_era_listen_acquires_for_the_stream_and_receives_updates() -> None:
    mcp, subs, events = build()
    async with Client(mcp) as client:
        async with client.listen(resource_subscriptions=["demo://a", "demo://secret"]) as stream:
            assert events == ["+demo://a"]  # the refused URI is not watched
            await subs.publish("demo://a")
            with anyio.fail_after(5):
                event = await stream.__anext__()
            assert event.uri == "demo://a"
        await anyio.sleep(0.1)
    assert events == ["+demo://a", "-demo://a"]


async def test_stateless_server_does_not_offer_handshake_subscriptions() -> None:
    mcp, _, _ = build("--stateless", "--transport", "streamable-http")
    async with Client(mcp, mode="legacy") as client:
        resources = client.server_capabilities.resources
        assert resources is not None and not resources.subscribe


async def test_a_failed_acquire_is_retried_by_the_next_subscribe() -> None:
    settings = CommonSettings(_cli_parse_args=[])  # type: ignore[call-arg]
    mcp = PatchbayServer("subs-retry", version="0", settings=settings)
    attempts: list[str] = []

    async def acquire(uri: str) -> None:
        attempts.append(uri)
        if len(attempts) == 1:
            raise UserError("The backend is not ready.", hint="Try again.")

    subs = mcp.subscriptions(acquire=acquire)

    @mcp.resource("demo://{name}")
    def demo(name: str) -> str:
        return name

    async with Client(mcp, mode="legacy") as client:
        with pytest.raises(MCPError) as refused:
            await client.subscribe_resource("demo://a")
        assert "The backend is not ready. Try again." in refused.value.error.message
        await client.subscribe_resource("demo://a")
    assert attempts == ["demo://a", "demo://a"]
    assert subs is not None
