"""`--workers N` as an operator sees it: one port, N processes, a dead one replaced, SIGTERM stops all.

The server is the real patchbay-sqlite (its built-in sample database) over stateless JSON streamable HTTP.
Which process served a request is read from the kernel, not from the server: the established TCP connections
to the port, matched by socket inode to the open descriptors of each worker (/proc; Linux, like CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp_types import TextContent

from patchbay_common.testing.clients import HttpServer, connect, http_server, python_launch

SQLITE = python_launch("patchbay_sqlite")
FLAGS = ("--stateless", "--json-response", "--workers", "2")
QUERY = {"query": "SELECT 6 * 7 AS answer"}


def children(parent: int) -> set[int]:
    """Live processes whose parent is `parent`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def workers_of(server: HttpServer, count: int, timeout: float = 30.0) -> set[int]:
    """The `count` worker pids once they all exist (a replacement may take a moment under load)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = children(server.process.pid)
        if len(pids) == count or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def connections_by_pid(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to `port` each of `pids` holds, from /proc/net/tcp{,6} and fds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            if local_port == port and parts[3] == "01":  # 01 = ESTABLISHED, server side of the connection
                inodes.add(parts[9])
    counts = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


async def answer(client: object) -> str:
    result = await client.call_tool("read_query", QUERY)  # type: ignore[attr-defined]
    assert not result.is_error, result
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def call_many(server: HttpServer, clients: int) -> tuple[list[str], dict[int, int]]:
    """`clients` connections (half per era) each making one call; who holds them while they are open."""
    async with AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(connect(server, era="modern" if i % 2 else "legacy"))
            for i in range(clients)
        ]
        texts = [await answer(client) for client in opened]
        held = connections_by_pid(server.port, workers_of(server, 2))
    return texts, held


def test_two_workers_answer_on_one_port_and_a_dead_one_is_replaced() -> None:
    with http_server(SQLITE, "streamable-http", *FLAGS, startup_timeout=120) as server:
        first = workers_of(server, 2)
        assert len(first) == 2, f"expected 2 worker processes, found {first}"

        texts, held = anyio.run(call_many, server, 16)
        assert all("42" in text for text in texts), texts[:2]
        # SO_REUSEPORT spreads connections by their address hash: both workers hold some of the 16 (those
        # still open: uvicorn closes a keep-alive connection idle for 5 s, which a loaded machine reaches).
        assert set(held) == first and all(held.values()), held

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            replaced = workers_of(server, 2)
            if victim not in replaced and len(replaced) == 2:
                break
            time.sleep(0.1)
        assert victim not in replaced and len(replaced) == 2, replaced
        assert max(first) in replaced  # the other worker was left alone

        texts, held = anyio.run(call_many, server, 16)
        assert all("42" in text for text in texts)
        assert set(held) == replaced and all(held.values()), held
        last = replaced
    # http_server sent SIGTERM and asserted exit status 0; no worker outlives the supervisor.
    for pid in last:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--transport", "streamable-http", "--workers", "2"], "needs --stateless"),
        (["--transport", "sse", "--workers", "2"], "needs --transport streamable-http --stateless"),
        (["--workers", "2"], "needs --transport streamable-http --stateless"),
    ],
)
def test_workers_refused_where_a_session_would_be_split(args: list[str], needle: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "patchbay_sqlite", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert lines[0].startswith("patchbay-sqlite: error: ")
