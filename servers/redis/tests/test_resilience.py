"""Redis going away and coming back, and the password never reaching a result or a log line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from patchbay_common.testing.clients import Launch, connect
from patchbay_redis.server import Settings, build

pytestmark = pytest.mark.anyio


async def test_restart_gives_clear_errors_then_recovers(own_redis, capfd) -> None:  # type: ignore[no-untyped-def]
    server = build(Settings(_cli_parse_args=["--url", own_redis.url, "--command-timeout", "0.5"]))
    async with connect(server) as client:
        own_redis.stop()
        down = await client.call_tool("list", {})
        assert down.is_error
        message = down.content[0].text
        assert "is not reachable" in message and "try again in a few seconds" in message
        assert own_redis.password not in message and "127.0.0.1" in message
        own_redis.start()
        up = await client.call_tool("list", {})
        assert not up.is_error and up.structured_content["keys"] == []
    logged = capfd.readouterr().err
    assert "tool call" in logged and own_redis.password not in logged


async def test_password_is_redacted_when_given_as_a_flag(own_redis, capfd) -> None:  # type: ignore[no-untyped-def]
    from patchbay_redis.server import Settings, build

    url = own_redis.url.replace(f":{own_redis.password}@", "@")
    server = build(
        Settings(_cli_parse_args=["--url", url, "--password", own_redis.password, "--access", "write"])
    )
    async with connect(server) as client:
        echoed = await client.call_tool("incr", {"key": own_redis.password})
        assert echoed.is_error is False
        pairs = [{"name": "a", "value": "b"}]
        wrong = await client.call_tool("hash_set", {"key": own_redis.password, "fields": pairs})
        assert (
            wrong.is_error
            and own_redis.password not in wrong.content[0].text
            and "***" in wrong.content[0].text
        )
    assert own_redis.password not in capfd.readouterr().err


def test_wrong_password_at_start_exits_2_without_the_password(own_redis) -> None:  # type: ignore[no-untyped-def]
    bad = own_redis.url.replace(own_redis.password, "Wrong-" + own_redis.password[::-1])
    done = subprocess.run(
        [sys.executable, "-m", "patchbay_redis", "--url", bad], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "refused the login" in done.stderr
    assert own_redis.password[::-1] not in done.stderr + done.stdout


async def test_stdio_server_with_a_password_in_the_url(own_redis) -> None:  # type: ignore[no-untyped-def]
    launch = Launch("patchbay-redis", ["--url", own_redis.url, "--access", "write"])
    async with connect(launch) as client:
        assert not (await client.call_tool("set", {"key": "k", "value": "v"})).is_error
        got = await client.call_tool("get", {"key": "k"})
        assert got.structured_content["value"] == "v"
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "set" in tools and "command" not in tools


def test_module_probe_logs_in_and_reports_a_refused_login(own_redis) -> None:  # type: ignore[no-untyped-def]
    from patchbay_common.errors import UserError
    from patchbay_redis.connection import ConnectionOptions, Modules, _probe_with_redis_py, probe_modules

    assert probe_modules(ConnectionOptions(url=own_redis.url)) == Modules(json=False, search=False)
    assert _probe_with_redis_py(ConnectionOptions(url=own_redis.url)) == (set(), set(), False)
    no_password = own_redis.url.replace(f":{own_redis.password}@", "")
    with pytest.raises(UserError, match="refused the login"):
        probe_modules(ConnectionOptions(url=no_password))
    own_redis.stop()
    assert probe_modules(ConnectionOptions(url=own_redis.url)).reachable is False
