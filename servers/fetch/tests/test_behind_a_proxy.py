"""patchbay-fetch behind a real proxy (tinyproxy, microsocks): the flag and the environment, both eras.

The page is fetched through the proxy (its log has the request, the site sees the proxy's `Via`), NO_PROXY
hosts go direct, the guard still refuses internal destinations before the proxy is contacted, and the
proxy's password is never shown to the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.proxies import ForwardProxy, SocksProxy, http_proxy, socks_proxy
from patchbay_common.testing.results import text
from patchbay_fetch.server import Settings, build

PASSWORD = "f3tch-pr0xy-pw-71"
PAGE = "/pages/zlib-how.html"


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy("fetcher", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


def _server(*flags: str) -> Any:
    return build(Settings(_cli_parse_args=["--allow-host", "localhost", "--ignore-robots-txt", *flags]))  # type: ignore[call-arg]


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_fetch_through_the_proxy_flag(site: Any, forward: ForwardProxy, era: Era) -> None:
    url = site.url(PAGE, host="localhost")
    before = len(forward.requests())
    async with connect(_server("--proxy-url", forward.url), era=era) as client:
        result = await client.call_tool("fetch", {"url": url})
        refused = await client.call_tool("fetch", {"url": "http://169.254.169.254/latest/meta-data/"})
        private = await client.call_tool("fetch", {"url": "http://10.20.30.40/"})
    assert not result.is_error and "zlib Usage Example" in text(result)
    assert forward.requests()[before:] == [f"GET {url}"]  # the metadata and private URLs never reached it
    assert "tinyproxy" in site.headers["localhost" + PAGE]["Via"]
    assert refused.is_error and "cloud metadata" in text(refused)
    assert private.is_error and "private address" in text(private)
    for shown in (text(result), text(refused), text(private)):
        assert PASSWORD not in shown


@pytest.mark.anyio
async def test_a_wrong_proxy_password_is_not_shown(site: Any, forward: ForwardProxy) -> None:
    wrong = forward.url.replace(PASSWORD, "wr0ng-pr0xy-pw-99")
    async with connect(_server("--proxy-url", wrong), era="modern") as client:
        result = await client.call_tool("fetch", {"url": site.url(PAGE, host="localhost")})
    assert result.is_error
    assert "wr0ng-pr0xy-pw-99" not in text(result) and PASSWORD not in text(result)


@pytest.mark.anyio
async def test_environment_socks5h_and_no_proxy(
    site: Any, socks: SocksProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", socks.url("socks5h"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    before = len(socks.targets())
    async with connect(_server("--allow-private"), era="legacy") as client:
        proxied = await client.call_tool("fetch", {"url": site.url(PAGE, host="localhost")})
        direct = await client.call_tool("fetch", {"url": site.url("/pages/rust-book-ownership.html")})
    assert not proxied.is_error and "zlib Usage Example" in text(proxied)
    assert not direct.is_error and "What Is Ownership?" in text(direct)
    assert socks.targets()[before:] == [f"localhost:{site.port}"]  # the name, resolved by the proxy


@pytest.mark.anyio
async def test_a_malformed_proxy_stops_the_start_with_the_reason() -> None:
    with pytest.raises(ValueError, match="socks4://") as caught:
        _server("--proxy-url", f"socks4://u:{PASSWORD}@127.0.0.1:1080")
    assert PASSWORD not in str(caught.value)
