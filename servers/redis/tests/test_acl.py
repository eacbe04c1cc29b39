"""The ACL user the README recommends: the read tools work with it, and Redis itself refuses writes."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import redis

from patchbay_common.testing.clients import ERAS, Launch, connect
from patchbay_redis.policy import Policy
from patchbay_redis.server import Settings, build

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[1] / "README.md"


def readme_acl() -> list[str]:
    """The ACL SETUSER line shown in the README, as arguments."""
    for line in README.read_text().splitlines():
        if line.startswith("ACL SETUSER"):
            return shlex.split(line)
    raise AssertionError("README shows no ACL SETUSER line")


async def test_readme_acl_user_runs_the_read_tools(own_redis) -> None:  # type: ignore[no-untyped-def]
    admin = redis.Redis(port=own_redis.port, password=own_redis.password)
    args = readme_acl()
    assert args[2] == "patchbay-reader" and "-keys" in args and "-@all" in args
    args = [a if not a.startswith(">") else ">reader-secret" for a in args]
    admin.execute_command(*args)
    admin.hset("h", mapping={"a": "1"})
    admin.xadd("st", {"a": "1"})
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    settings = Settings(
        _cli_parse_args=["--url", url, "--username", "patchbay-reader", "--password", "reader-secret"]
    )
    async with connect(build(settings)) as client:
        for name, call in [
            ("list", {}),
            ("get", {"key": "h"}),
            ("key_info", {"keys": ["h"]}),
            ("stream_groups", {"key": "st"}),
            ("server_info", {}),
            ("client_list", {}),
            ("slowlog", {}),
            ("latency", {}),
            ("pubsub_channels", {}),
        ]:
            result = await client.call_tool(name, call)
            assert not result.is_error, (name, result.content[0].text)
    reader = redis.Redis(port=own_redis.port, username="patchbay-reader", password="reader-secret")
    for command in (["SET", "k", "v"], ["KEYS", "*"], ["FLUSHALL"], ["CONFIG", "GET", "*"]):
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.execute_command(*command)
    assert Policy.of("read")  # the server's own check is the first line; the ACL is the second
    admin.close()
    reader.close()


def _user(own_redis, name: str, *rules: str) -> redis.Redis:  # type: ignore[no-untyped-def]
    """Create ACL user `name` (password 'pw') with these rules on the module's own redis-server."""
    admin = redis.Redis(port=own_redis.port, password=own_redis.password)
    admin.execute_command("ACL", "SETUSER", name, "reset", "on", ">pw", *rules)
    return admin


def _launch(own_redis, user: str, db: int = 0, *extra: str) -> Launch:  # type: ignore[no-untyped-def]
    url = f"redis://127.0.0.1:{own_redis.port}/{db}"
    return Launch("patchbay-redis", ["--url", url, "--username", user, "--password", "pw", *extra])


@pytest.mark.parametrize("era", ERAS)
async def test_user_without_info_or_connection_commands_starts_with_reduced_features(own_redis, era) -> None:  # type: ignore[no-untyped-def]
    # Only the @read commands: no INFO, no COMMAND INFO (module probe), no CLIENT SETNAME.
    admin = _user(own_redis, "plain-reader", "~*", "-@all", "+@read")
    admin.set("greeting", "hi")
    async with connect(_launch(own_redis, "plain-reader"), era=era) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"list", "get", "server_info"} <= names
        got = await client.call_tool("get", {"key": "greeting"})
        assert not got.is_error and got.structured_content["value"] == "hi"
        listed = await client.call_tool("list", {})
        assert not listed.is_error and listed.structured_content["keys"] == ["greeting"]
        info = await client.call_tool("server_info", {})
        shown = info.content[0].text
        assert info.is_error and "may not run INFO" in shown and "'plain-reader'" in shown
        assert "ACL SETUSER plain-reader +info" in shown and "login" not in shown
        slow = await client.call_tool("slowlog", {})
        assert slow.is_error and "ACL SETUSER plain-reader +slowlog|get" in slow.content[0].text
    admin.close()


async def test_readme_user_without_info_names_the_grant(own_redis, capfd, caplog) -> None:  # type: ignore[no-untyped-def]
    args = [a for a in readme_acl()[3:] if a != "+info" and not a.startswith(">")]
    admin = _user(own_redis, "reader-no-info", *args)
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    settings = Settings(_cli_parse_args=["--url", url, "--username", "reader-no-info", "--password", "pw"])
    server = build(settings)
    logged = capfd.readouterr().err + caplog.text
    assert "INFO" in logged and "ACL SETUSER reader-no-info +info" in logged and "pw" not in logged.split()
    async with connect(server) as client:
        info = await client.call_tool("server_info", {"section": "memory"})
        shown = info.content[0].text
        assert info.is_error and "ACL SETUSER reader-no-info +info" in shown
        assert "nothing was sent to Redis" in shown
        assert not (await client.call_tool("key_info", {"keys": ["x"]})).is_error
    admin.close()


def test_user_refused_select_exits_2_naming_select(own_redis) -> None:  # type: ignore[no-untyped-def]
    admin = _user(own_redis, "db0-only", "~*", "-@all", "+@read", "+@connection", "-select")
    launch = _launch(own_redis, "db0-only", 3)
    done = subprocess.run(launch.argv(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refused SELECT 3" in done.stderr and "ACL SETUSER db0-only +select" in done.stderr
    assert "refused the login" not in done.stderr
    admin.close()


def test_wrong_password_for_an_acl_user_still_reads_as_a_login_problem(own_redis) -> None:  # type: ignore[no-untyped-def]
    admin = _user(own_redis, "someone", "~*", "+@all")
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    done = subprocess.run(
        ["patchbay-redis", "--url", url, "--username", "someone", "--password", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "refused the login of user 'someone'" in done.stderr
    admin.close()
