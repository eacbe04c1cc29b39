"""Fixtures for patchbay-redis tests: a private, emptied database of the shared redis-server per test."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from patchbay_common.testing.components import RedisInstance, free_port
from patchbay_redis.server import Settings, build

sys.path.insert(0, str(Path(__file__).parent))  # redis_load (--import-mode=importlib)

# Databases 0 and 1 are left to other test suites that share the session's redis-server.
_DBS = itertools.cycle(range(2, 16))


@dataclass
class Db:
    """One database of the shared redis-server: its URL and a plain redis-py client for setup and checks."""

    url: str
    number: int
    r: redis.Redis

    def settings(self, *args: str) -> Settings:
        return Settings(_cli_parse_args=["--url", self.url, *args])

    def server(self, *args: str, modules: object = None):  # type: ignore[no-untyped-def]
        return build(self.settings(*args), modules)  # type: ignore[arg-type]


@pytest.fixture
def db(redis_instance: RedisInstance) -> Iterator[Db]:
    """A database no other test uses at the same time, empty before and after the test."""
    number = next(_DBS)
    base = redis_instance.url.rsplit("/", 1)[0]
    client = redis.Redis.from_url(f"{base}/{number}")
    client.flushdb()
    try:
        yield Db(f"{base}/{number}", number, client)
    finally:
        client.flushdb()
        client.close()


@dataclass
class OwnRedis:
    """A redis-server of this module's own, with a password, that tests may stop and start again."""

    port: int
    password: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: run `make setup`"
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(self.workdir), "--requirepass", self.password]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "own redis-server did not start"
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A password-protected redis-server on a fixed port, stoppable mid-test (restart and redaction tests)."""
    server = OwnRedis(free_port(), "Pw-" + os.urandom(6).hex(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
