"""The egress proxy on its own, spoken to over raw sockets the way Chromium speaks to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay_browser.proxy import EgressProxy
from patchbay_common.egress import EgressPolicy

pytestmark = pytest.mark.anyio


@pytest.fixture
async def proxy() -> AsyncIterator[EgressProxy]:
    running = EgressProxy(EgressPolicy(allow_hosts=("127.0.0.1",)))
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def exchange(proxy: EgressProxy, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def test_plain_http_is_forwarded_to_an_allowed_host_and_closed_after_one_response(
    proxy: EgressProxy, site: Any, internal_site: Any
) -> None:
    before = internal_site.hits["/two"]
    request = (
        f"GET {site.url('/two')} HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n"
        "Proxy-Connection: keep-alive\r\n\r\n"
        # a second request for another host on the same connection must not reach it
        f"GET {internal_site.url('/two')} HTTP/1.1\r\nHost: 127.0.0.2:{internal_site.port}\r\n\r\n"
    ).encode()
    data = await exchange(proxy, request)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert b"<h1>Second</h1>" in body
    assert data.count(b"HTTP/1.1 ") == 1
    assert internal_site.hits["/two"] == before


async def test_a_blocked_host_gets_403_with_the_reason_and_is_not_contacted(
    proxy: EgressProxy, internal_site: Any
) -> None:
    before = internal_site.hits["/two"]
    data = await exchange(proxy, f"GET {internal_site.url('/two')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert data.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"X-Patchbay-Egress: denied" in data
    assert b"127.0.0.2 is a loopback address" in data
    assert internal_site.hits["/two"] == before
    assert proxy.denials[-1].target == f"127.0.0.2:{internal_site.port}"


async def test_other_spellings_of_a_blocked_address_are_judged_by_the_address(
    proxy: EgressProxy, internal_site: Any
) -> None:
    # 2130706434 is 127.0.0.2 written as one decimal number
    data = await exchange(
        proxy, f"GET http://2130706434:{internal_site.port}/two HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert data.startswith(b"HTTP/1.1 403")
    assert b"127.0.0.2" in data


async def test_connect_tunnels_only_to_allowed_hosts(
    proxy: EgressProxy, site: Any, internal_site: Any
) -> None:
    refused = await exchange(proxy, f"CONNECT 127.0.0.2:{internal_site.port} HTTP/1.1\r\n\r\n".encode())
    assert refused.startswith(b"HTTP/1.1 403")
    metadata = await exchange(proxy, b"CONNECT 169.254.169.254:443 HTTP/1.1\r\n\r\n")
    assert metadata.startswith(b"HTTP/1.1 403") and b"cloud metadata" in metadata

    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(f"CONNECT 127.0.0.1:{site.port} HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n\r\n".encode())
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    writer.write(f"GET /two HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert data.startswith(b"HTTP/1.1 200") and b"Second" in data


async def test_malformed_requests_get_400(proxy: EgressProxy) -> None:
    assert (await exchange(proxy, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400")
    relative = await exchange(proxy, b"GET /relative HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert relative.startswith(b"HTTP/1.1 400") and b"only absolute http:// URLs" in relative
    bad_port = await exchange(proxy, b"CONNECT example.com:notaport HTTP/1.1\r\n\r\n")
    assert bad_port.startswith(b"HTTP/1.1 400")
