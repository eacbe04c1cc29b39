"""Sentinel: the server finds the primary through a real redis-server running in sentinel mode."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from patchbay_common.testing.clients import connect
from patchbay_common.testing.components import RedisInstance, free_port
from patchbay_redis.server import Settings, build

pytestmark = pytest.mark.anyio


@pytest.fixture
def sentinel(redis_instance: RedisInstance, tmp_path: Path) -> Iterator[int]:
    """A sentinel monitoring the shared redis-server as primary `main`; yields its port."""
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor main 127.0.0.1 {redis_instance.port} 1\n"
    )
    binary = shutil.which("redis-server")
    assert binary
    process = subprocess.Popen([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(500):
            try:
                if client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "main"):
                    break
            except redis.ConnectionError:
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_primary_found_through_sentinel(db, sentinel) -> None:  # type: ignore[no-untyped-def]
    db.r.set("via", "sentinel")
    settings = Settings(
        _cli_parse_args=[
            "--sentinel", f"127.0.0.1:{sentinel}", "--sentinel-service", "main", "--db", str(db.number)
        ]
    )  # fmt: skip
    async with connect(build(settings)) as client:
        got = await client.call_tool("get", {"key": "via"})
        assert got.structured_content["value"] == "sentinel"


def test_sentinel_needs_a_service_name() -> None:
    with pytest.raises(ValueError, match="--sentinel-service"):
        build(Settings(_cli_parse_args=["--sentinel", "127.0.0.1:1"]))
