"""patchbay-github behind a real proxy: PyGithub's requests and the job-log download both go through it.

tinyproxy with credentials via --proxy-url (both eras), microsocks via ALL_PROXY (socks5h: the proxy
resolves), NO_PROXY sending the stand-in direct, and the proxy's password never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from standin import StandIn, Stream

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.proxies import ForwardProxy, SocksProxy, http_proxy, socks_proxy
from patchbay_common.testing.results import text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

Make = Callable[..., Settings]
PASSWORD = "g1thub-pr0xy-pw-58"
LOG = "/_blob/repos/o/r/actions/jobs/5/logs"


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy("octo", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


def _by_name(api: StandIn) -> str:
    return api.base_url.replace("127.0.0.1", "localhost")


@pytest.mark.parametrize("era", ERAS)
async def test_api_calls_through_the_proxy_flag(
    make_settings: Make, api: StandIn, forward: ForwardProxy, era: Era
) -> None:
    before = len(forward.requests())
    settings = make_settings("--api-url", _by_name(api), "--proxy-url", forward.url)
    async with connect(build(settings), era=era) as client:
        result = await client.call_tool("get_me", {})
    assert not result.is_error, text(result)
    [call] = api.requests
    assert "tinyproxy" in call.headers.get("via", "")  # the stand-in heard from the proxy
    assert forward.requests()[before:] == [f"GET {_by_name(api)}/user"]
    assert "proxy-authorization" not in call.headers and PASSWORD not in text(result)


async def test_socks5h_from_the_environment_carries_api_calls_and_log_downloads(
    make_settings: Make, api: StandIn, socks: SocksProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", socks.url("socks5h"))
    api.override("GET", LOG, body=Stream(lambda: iter([b"step one\n", b"the last line\n"])))
    before = len(socks.targets())
    async with connect(build(make_settings("--toolsets", "all")), era="modern") as client:
        result = await client.call_tool("get_job_logs", {"owner": "o", "repo": "r", "job_id": 5})
    assert not result.is_error, text(result)
    assert "the last line" in text(result)
    port = api.origin.rsplit(":", 1)[1]
    targets = socks.targets()[before:]
    assert len(targets) >= 2 and set(targets) == {f"127.0.0.1:{port}"}  # API call and download, via the proxy


async def test_no_proxy_sends_the_api_direct(
    make_settings: Make, api: StandIn, socks: SocksProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", socks.url("socks5"))
    monkeypatch.setenv("HTTP_PROXY", socks.url("socks5"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    before = len(socks.targets())
    async with connect(build(make_settings()), era="legacy") as client:
        assert not (await client.call_tool("get_me", {})).is_error
    assert socks.targets()[before:] == []
    assert len(api.calls()) == 1


async def test_a_dead_proxy_is_reported_without_its_password(make_settings: Make, api: StandIn) -> None:
    dead = f"http://octo:{PASSWORD}@127.0.0.1:9"
    async with connect(build(make_settings("--proxy-url", dead)), era="modern") as client:
        result = await client.call_tool("get_me", {})
    assert result.is_error and PASSWORD not in text(result)
    assert api.calls() == []
