"""patchbay-search behind a real proxy: the Brave stand-in is reached through tinyproxy or microsocks.

The flag with credentials (never shown), the environment's ALL_PROXY with NO_PROXY, both protocol eras.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.proxies import ForwardProxy, SocksProxy, http_proxy, socks_proxy
from patchbay_common.testing.results import text
from patchbay_search.server import Settings, build

PASSWORD = "s3arch-pr0xy-pw-42"


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy("searcher", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


def _by_name(standin: Any) -> str:
    return standin.base_url.replace("127.0.0.1", "localhost")


def make_settings(base_url: str, standin_key: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"api_key": standin_key, "base_url": base_url, "log_level": "WARNING"}
    return Settings(_cli_parse_args=[], **{"rate_limit": 100, **values, **overrides})  # type: ignore[call-arg]


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_search_through_the_proxy_flag(standin: Any, forward: ForwardProxy, era: Era) -> None:
    before = len(forward.requests())
    server = build(make_settings(_by_name(standin), standin.api_key, proxy_url=forward.url))
    async with connect(server, era=era) as client:
        result = await client.call_tool("brave_web_search", {"query": "proxied search"})
    assert not result.is_error, text(result)
    [seen] = standin.calls("/res/v1/web/search")
    assert "tinyproxy" in seen.headers.get("via", "")  # the stand-in heard from the proxy
    assert [r.split("?")[0] for r in forward.requests()[before:]] == [
        f"GET {_by_name(standin)}/res/v1/web/search"
    ]
    assert "proxy-authorization" not in seen.headers
    assert PASSWORD not in text(result)


@pytest.mark.anyio
async def test_environment_socks5_and_no_proxy(
    standin: Any, socks: SocksProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", socks.url("socks5"))
    before = len(socks.targets())
    async with connect(build(make_settings(_by_name(standin), standin.api_key)), era="modern") as client:
        proxied = await client.call_tool("brave_web_search", {"query": "via socks"})
    monkeypatch.setenv("NO_PROXY", "localhost")
    async with connect(build(make_settings(_by_name(standin), standin.api_key)), era="modern") as client:
        direct = await client.call_tool("brave_web_search", {"query": "direct"})
    assert not proxied.is_error and not direct.is_error
    port = standin.base_url.rsplit(":", 1)[1]
    assert socks.targets()[before:] == [f"127.0.0.1:{port}"]  # socks5: resolved here, the address sent
    assert len(standin.calls("/res/v1/web/search")) == 2


@pytest.mark.anyio
async def test_an_unreachable_proxy_is_named_without_its_password(standin: Any) -> None:
    dead = f"http://searcher:{PASSWORD}@127.0.0.1:9"  # the discard port: nothing listens
    async with connect(
        build(make_settings(_by_name(standin), standin.api_key, proxy_url=dead, retries=0)), era="modern"
    ) as client:
        result = await client.call_tool("brave_web_search", {"query": "x"})
    assert result.is_error
    assert PASSWORD not in text(result)
    assert standin.calls("/res/v1/web/search") == []
