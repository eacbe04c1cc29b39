"""Walks in a forked child (`forked`): the same answers as in a thread, errors as text, no child left behind.

A search that runs in a child process must be indistinguishable from one in a thread to the model (the
same text, the same isError texts), and must never leave a process running: not after it answers, not
after it fails, not after the call is cancelled, and not after the server itself is killed mid-search.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from patchbay_common.testing.clients import connect
from patchbay_common.testing.results import text
from patchbay_filesystem import forked, walking
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio


def make(*args: str) -> Any:
    return build(Settings(_cli_parse_args=list(args)))  # type: ignore[call-arg]


def children() -> set[int]:
    """The live (not zombie) child processes of this process."""
    found = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listing:
            found.update(int(pid) for pid in listing.read().split())
    return {pid for pid in found if _state(pid) not in ("Z", None)}


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


async def _settle(before: set[int]) -> set[int]:
    """Children beyond `before` still alive after a short wait (the reaper runs in a thread)."""
    for _ in range(50):
        left = children() - before
        if not left:
            return left
        await anyio.sleep(0.02)
    return children() - before


def _unframed(result: Any) -> str:
    """The text with the frame's per-answer nonce taken out."""
    return re.sub(r"untrusted-data-[0-9a-f]+", "untrusted-data", text(result))


CALLS = [
    ("search_content", {"pattern": "TODO"}),
    ("search_content", {"pattern": "todo", "literal": True, "context_lines": 1}),
    ("search_files", {"pattern": "*.py"}),
]


@pytest.mark.skipif(not forked.FORK, reason="walks fork on Linux only")
@pytest.mark.parametrize(("tool", "arguments"), CALLS)
async def test_a_forked_walk_answers_as_a_thread_does(
    allowed: Path, monkeypatch: pytest.MonkeyPatch, tool: str, arguments: dict[str, Any]
) -> None:
    before = children()
    async with forked_and_threaded(allowed) as call:
        in_child = await call(tool, {"path": str(allowed), **arguments}, fork=True)
        in_thread = await call(tool, {"path": str(allowed), **arguments}, fork=False)
    assert not in_child.is_error and _unframed(in_child) == _unframed(in_thread)
    assert "TODO" in text(in_child) or ".py" in text(in_child)
    assert await _settle(before) == set()


@pytest.mark.skipif(not forked.FORK, reason="walks fork on Linux only")
async def test_only_a_walk_past_the_thread_budget_forks(
    allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small walk answers from its thread (a fork costs ~10 ms); a long one is run again, whole, forked."""
    for d in range(5):
        (allowed / "tree" / f"d{d}").mkdir(parents=True)
        for f in range(20):
            (allowed / "tree" / f"d{d}" / f"f{f}.txt").write_text(f"row {d} {f}\nTODO {d}\n")
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    arguments = {"path": str(allowed / "tree"), "pattern": "TODO", "max_results": 1000}
    async with connect(make(str(allowed))) as client:
        small = await client.call_tool("search_content", arguments)  # 105 entries, under the budget
        assert forks == []
        monkeypatch.setattr(forked, "THREAD_ENTRIES", 30)
        long = await client.call_tool("search_content", arguments)
        assert len(forks) == 1
    assert _unframed(small) == _unframed(long)
    assert _unframed(long).count(": TODO") == 100


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"path": "{base}/outside", "pattern": "secret"}, "outside the allowed directories"),
        ({"path": "{allowed}/missing", "pattern": "x"}, "does not exist"),
        ({"path": "{allowed}", "pattern": "(?<=a)b"}, "lookbehind"),
        ({"path": "{allowed}/hello.txt", "pattern": "x"}, "not a directory"),
    ],
)
async def test_a_failed_walk_says_why_and_leaves_no_process(
    base: Path, allowed: Path, arguments: dict[str, str], says: str
) -> None:
    before = children()
    filled = {k: v.format(base=base, allowed=allowed) for k, v in arguments.items()}
    async with forked_and_threaded(allowed) as call:
        for fork in (True, False):
            result = await call("search_content", filled, fork=fork)
            assert result.is_error, text(result)
            assert says in text(result).lower(), text(result)
            assert "Traceback" not in text(result)
    assert await _settle(before) == set()


@pytest.mark.skipif(not forked.FORK, reason="walks fork on Linux only")
async def test_a_cancelled_search_kills_its_process(allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = allowed / "many"
    for d in range(10):
        folder = top / f"d{d}"
        folder.mkdir(parents=True)
        for f in range(10):
            (folder / f"f{f}.txt").write_text(f"{d} {f}\n")
    read = walking._read_file

    def slow_read(dir_fd: int, name: str, max_bytes: int) -> Any:  # the forked child inherits it
        time.sleep(0.05)
        return read(dir_fd, name, max_bytes)

    monkeypatch.setattr(walking, "_read_file", slow_read)
    before = children()
    seen: set[int] = set()
    async with forked_and_threaded(allowed) as call:
        async with anyio.create_task_group() as group:
            group.start_soon(
                functools.partial(call, fork=True), "search_content", {"path": str(top), "pattern": "x"}
            )
            with anyio.fail_after(10):
                while not seen:
                    await anyio.sleep(0.01)
                    seen = children() - before
            group.cancel_scope.cancel()  # five seconds of reading left
        assert await _settle(before) == set()
        assert all(_state(pid) is None for pid in seen), "the search process was not reaped"
        monkeypatch.setattr(walking, "_read_file", read)
        again = await call("search_content", {"path": str(allowed), "pattern": "TODO"}, fork=True)
        assert "guide.md" in text(again)


@pytest.mark.skipif(not forked.FORK, reason="walks fork on Linux only")
def test_the_search_process_dies_with_the_server(allowed: Path) -> None:
    """Killed mid-walk, the server takes the walk's process with it: nothing holds the client's pipe."""
    script = (
        "import anyio, sys, time\n"
        "from patchbay_common.notify import Progress\n"
        "from patchbay_common.roots import Roots\n"
        "from patchbay_filesystem import forked\n"
        "def slow_walk(roots):\n"
        "    for _ in roots.walk(sys.argv[1]):\n"
        "        time.sleep(60)\n"
        "async def main():\n"
        "    forked.THREAD_ENTRIES = 0\n"
        "    print('walking', flush=True)\n"
        "    async with Progress() as progress:\n"
        "        await forked.walk_in_child(slow_walk, Roots([sys.argv[1]]), progress)\n"
        "anyio.run(main)\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(allowed)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == b"walking\n"
        deadline = time.monotonic() + 20
        child = None
        while child is None and time.monotonic() < deadline:
            with open(f"/proc/{server.pid}/task/{server.pid}/children") as listing:
                pids = [int(pid) for pid in listing.read().split()]
            child = pids[0] if pids else None
            time.sleep(0.01)
        assert child is not None, "no walk process was seen"
        time.sleep(0.2)  # past its detaching
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        for _ in range(200):
            if _state(child) in (None, "Z"):
                break
            time.sleep(0.01)
        assert _state(child) in (None, "Z"), "the walk's process outlived the server"
        assert server.stdout.read() == b""  # end of file at once: the child does not hold the pipe
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


class forked_and_threaded:
    """A connected in-process client whose calls run walks forked or in a thread, as each call asks."""

    def __init__(self, allowed: Path) -> None:
        self._connection = connect(make(str(allowed)))

    async def __aenter__(self) -> Any:
        client = await self._connection.__aenter__()

        async def call(tool: str, arguments: dict[str, Any], *, fork: bool) -> Any:
            """Call `tool`, its walk forked at once (`fork`) or run whole in a thread."""
            saved = forked.FORK, forked.THREAD_ENTRIES
            forked.FORK, forked.THREAD_ENTRIES = fork and saved[0], 0
            try:
                return await client.call_tool(tool, arguments)
            finally:
                forked.FORK, forked.THREAD_ENTRIES = saved

        return call

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.__aexit__(*exc)


@pytest.mark.skipif(not forked.FORK, reason="walks fork on Linux only")
async def test_a_walk_process_that_dies_says_so(allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed mid-walk (the kernel's OOM killer, an operator), the child leaves a clear error, not a hang."""
    from patchbay_common.errors import UserError
    from patchbay_common.notify import Progress
    from patchbay_common.roots import Roots

    def dies(roots: Any) -> None:
        for _ in roots.walk(str(allowed)):
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(forked, "THREAD_ENTRIES", 0)
    before = children()
    async with Progress() as progress:
        with anyio.fail_after(10), pytest.raises(UserError, match="stopped without an answer") as failed:
            await forked.walk_in_child(dies, Roots([allowed]), progress)
    assert "narrower path" in str(failed.value)
    assert await _settle(before) == set()
