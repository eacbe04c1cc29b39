"""The ACL user the README recommends: the read tools work with it, and Redis itself refuses writes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import redis

from patchbay_common.testing.clients import connect
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
