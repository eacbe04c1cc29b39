"""patchbay-slack behind a real proxy: Web API calls and file uploads go through tinyproxy or microsocks.

The flag with credentials (both eras; the password never shown), ALL_PROXY with socks5 (resolved here),
NO_PROXY sending the stand-in direct, and slack-sdk's own reading of HTTPS_PROXY overruled by NO_PROXY.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.proxies import ForwardProxy, SocksProxy, http_proxy, socks_proxy
from patchbay_common.testing.results import text
from patchbay_slack.server import Settings, build

pytestmark = pytest.mark.anyio

PASSWORD = "sl4ck-pr0xy-pw-33"


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy("slacker", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


def _server(base_url: str, *flags: str) -> Any:
    return build(Settings(_cli_parse_args=["--log-level", "WARNING", "--base-url", base_url, *flags]))  # type: ignore[call-arg]


@pytest.mark.parametrize("era", ERAS)
async def test_api_calls_through_the_proxy_flag(
    standin: Any, slack_env: pytest.MonkeyPatch, forward: ForwardProxy, era: Era
) -> None:
    by_name = standin.base_url.replace("127.0.0.1", "localhost")
    before = len(forward.requests())
    async with connect(_server(by_name, "--proxy-url", forward.url), era=era) as client:
        result = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
    assert not result.is_error, text(result)
    sent = forward.requests()[before:]
    assert sent and all(line.startswith(f"GET {by_name}") for line in sent), sent
    assert standin.calls("conversations.history")
    assert PASSWORD not in text(result)


async def test_socks5_from_the_environment_carries_uploads_too(
    standin: Any, slack_env: pytest.MonkeyPatch, socks: SocksProxy, tmp_path: Path
) -> None:
    slack_env.setenv("ALL_PROXY", socks.url("socks5"))
    (tmp_path / "report.txt").write_text("quarterly numbers\n")
    before = len(socks.targets())
    server = _server(standin.base_url, "--allow-post", "#general", "--upload-dir", str(tmp_path))
    async with connect(server, era="modern") as client:
        result = await client.call_tool(
            "slack_upload_file", {"channel": "#general", "path": str(tmp_path / "report.txt")}
        )
    assert not result.is_error, text(result)
    port = standin.base_url.split(":")[2].split("/")[0]
    targets = socks.targets()[before:]
    assert len(targets) >= 3 and set(targets) == {f"127.0.0.1:{port}"}  # URL, bytes, completion
    assert standin.calls("upload")  # the bytes arrived, through the proxy


async def test_no_proxy_wins_over_the_environment_proxy(
    standin: Any, slack_env: pytest.MonkeyPatch, socks: SocksProxy, make_server: Callable[..., Any]
) -> None:
    slack_env.setenv("HTTPS_PROXY", socks.url("socks5h"))  # slack-sdk alone would read this one
    slack_env.setenv("HTTP_PROXY", socks.url("socks5h"))
    slack_env.setenv("NO_PROXY", "127.0.0.1")
    before = len(socks.targets())
    async with connect(make_server(), era="legacy") as client:
        result = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
    assert not result.is_error, text(result)
    assert socks.targets()[before:] == []


async def test_a_dead_proxy_is_reported_without_its_password(
    standin: Any, slack_env: pytest.MonkeyPatch
) -> None:
    dead = f"http://slacker:{PASSWORD}@127.0.0.1:9"
    async with connect(_server(standin.base_url, "--proxy-url", dead), era="modern") as client:
        result = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
    assert result.is_error and PASSWORD not in text(result)
    assert standin.requests == []
