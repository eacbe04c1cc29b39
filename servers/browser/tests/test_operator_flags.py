"""List-valued flags add to the protective defaults, never replace them.

`--browser-arg` is appended after Playwright's `--proxy-server` and this server's own Chromium flags, and
Chromium keeps the last value of a switch: a switch that would take requests around the egress guard's
proxy, or turn QUIC, non-proxied WebRTC UDP, Chromium's restricted ports or the same-origin policy back
on, is refused at start-up. `--allow-host` and `--block-host` (the shared egress guard's lists) leave
loopback, private and cloud-metadata addresses refused for everything they do not name, in flags and in
the environment alike. None of these checks needs a browser: the URL is checked before one starts.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from patchbay_browser.server import Settings, build
from patchbay_common.testing.clients import connect
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio


def settings_for(*flags: str) -> Settings:
    return Settings(_cli_parse_args=list(flags))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "arg",
    [
        "--proxy-server=direct://",
        "--no-proxy-server",
        "--proxy-bypass-list=<local>",
        "--proxy-pac-url=http://127.0.0.1/pac",
        "-enable-quic",
        "--Origin-To-Force-Quic-On=example.com:443",
        "--webrtc-ip-handling-policy=default",
        "--force-webrtc-ip-handling-policy",
        "--explicitly-allowed-ports=6379",
        "--disable-web-security",
    ],
)
def test_browser_args_that_undo_a_protection_are_refused(arg: str) -> None:
    with pytest.raises(ValueError, match="is not accepted"):
        build(settings_for(f"--browser-arg={arg}"))


def test_other_browser_args_are_added() -> None:
    server = build(settings_for("--browser-arg=--lang=de", "--browser-arg=--force-dark-mode"))
    assert server.browser.options.args == ("--lang=de", "--force-dark-mode")  # type: ignore[attr-defined]


def test_a_refused_browser_arg_stops_the_server_with_one_line() -> None:
    done = subprocess.run(
        ["patchbay-browser", "--browser-arg=--proxy-bypass-list=<-loopback>"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "is not accepted: every connection goes through the egress guard's proxy" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "environment", "refused"),
    [
        (
            ["--block-host", "example.com"],
            {},
            ["http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/"],
        ),
        (
            ["--allow-host", "127.0.0.1"],
            {},
            ["http://127.0.0.2/", "http://192.168.1.1/", "http://169.254.169.254/"],
        ),
        (
            ["--allow-private", "--allow-host", "example.com"],
            {},
            ["http://169.254.169.254/", "http://[fd00:ec2::254]/"],
        ),
        (
            [],
            {"PATCHBAY_BROWSER_BLOCK_HOST": '["example.com"]'},
            ["http://127.0.0.1/", "http://169.254.169.254/"],
        ),
        (
            [],
            {"PATCHBAY_BROWSER_ALLOW_HOST": '["127.0.0.1"]'},
            ["http://127.0.0.2/", "http://metadata.google.internal/"],
        ),
    ],
)
async def test_egress_lists_keep_the_defaults_that_protect(
    flags: list[str], environment: dict[str, str], refused: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    server: Any = build(settings_for(*flags))
    async with connect(server) as client:
        for url in refused:
            result = await client.call_tool("navigate", {"url": url})
            assert result.is_error and (
                "Refused to connect" in text(result) or "never reached" in text(result)
            ), (
                url,
                text(result),
            )
    assert not server.browser.running
