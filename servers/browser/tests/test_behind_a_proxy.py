"""patchbay-browser behind the operator's proxy: Chromium talks only to the egress guard's own proxy,
which reaches checked destinations through a real tinyproxy (flag, credentials; Chromium end to end) or
microsocks (ALL_PROXY; the guard's proxy spoken to as Chromium speaks to it).

The page loads through the proxy (its log has it), internal destinations are refused before the proxy
hears of them, NO_PROXY hosts go direct, and the proxy's password is never shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from patchbay_browser.proxy import EgressProxy
from patchbay_browser.server import Settings, build
from patchbay_common.egress import EgressPolicy, ProxyConfig
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.proxies import ForwardProxy, SocksProxy, http_proxy, socks_proxy
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

PASSWORD = "br0wser-pr0xy-pw-64"


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy("surfer", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


def _settings(chromium_path: str, *flags: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _cli_parse_args=[
            "--allow-host", "localhost", "--allow-host", "127.0.0.1",
            "--executable-path", chromium_path, "--navigation-timeout", "10", *flags,
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
async def proxied(chromium_path: str, forward: ForwardProxy) -> AsyncIterator[Any]:
    built = build(_settings(chromium_path, "--proxy-url", forward.url, "--no-proxy", "127.0.0.1"))
    async with built.browser.held():
        yield built


def _by_name(site: Any, path: str) -> str:
    return site.url(path).replace("127.0.0.1", "localhost")


@pytest.mark.parametrize("era", ERAS)
async def test_pages_load_through_the_proxy_flag(
    proxied: Any, site: Any, forward: ForwardProxy, era: Era
) -> None:
    url = _by_name(site, "/two")
    before = len(forward.requests())
    async with connect(proxied, era=era) as client:
        loaded = await client.call_tool("navigate", {"url": url})
        metadata = await client.call_tool("navigate", {"url": "http://169.254.169.254/latest/meta-data/"})
        direct = await client.call_tool("navigate", {"url": site.url("/")})  # NO_PROXY: straight there
    assert not loaded.is_error, text(loaded)
    assert f"Navigated to {url}" in text(loaded)
    assert metadata.is_error and "metadata" in text(metadata)
    assert not direct.is_error, text(direct)
    sent = forward.requests()[before:]
    assert f"GET {url}" in sent  # the page went through the operator's proxy
    assert all("169.254.169.254" not in line and site.url("/") not in line for line in sent), sent
    for result in (loaded, metadata, direct):
        assert PASSWORD not in text(result)


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
async def test_the_guard_proxy_chains_to_the_operators_proxy_from_the_environment(
    site: Any, socks: SocksProxy, forward: ForwardProxy, scheme: str
) -> None:
    """The egress proxy Chromium talks to, spoken to as Chromium does, with ALL_PROXY set to a real proxy."""
    upstream = forward.url if scheme == "http" else socks.url(scheme)
    proxies = ProxyConfig.from_env({"ALL_PROXY": upstream})
    guard = EgressProxy(EgressPolicy(allow_hosts=("localhost",), proxies=proxies))
    await guard.start()
    before, before_http = len(socks.targets()), len(forward.requests())
    authority = f"localhost:{site.port}"
    try:
        page = await _exchange(
            guard.port, f"GET http://{authority}/two HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
        )
        tunnel = await _exchange(
            guard.port,
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
            f"GET /two HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode(),
        )
        refused = await _exchange(
            guard.port, b"GET http://169.254.169.254/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
        )
    finally:
        await guard.close()
    assert page.startswith(b"HTTP/1.1 200") or page.startswith(b"HTTP/1.0 200"), page[:200]
    assert (
        tunnel.startswith(b"HTTP/1.1 200 Connection Established") and b"<title>Second page</title>" in tunnel
    ), tunnel[:300]
    assert refused.startswith(b"HTTP/1.1 403") and b"metadata" in refused
    if scheme == "http":  # plain HTTP handed over in absolute form, HTTPS tunnelled with CONNECT
        assert forward.requests()[before_http:] == [f"GET http://{authority}/two", f"CONNECT {authority}"]
        return
    sent = f"127.0.0.1:{site.port}" if scheme == "socks5" else authority  # socks5: the checked address
    assert socks.targets()[before:] == [sent, sent]
