"""Progress while walks and large reads run, walks that stop with the call, and path completions (issue 20).

That a walk stopped is read from probes in this process: every directory the roots module lists
(`patchbay_common.roots._scan`) and every file a content search reads (`walking._read_file`) is counted,
each slowed a little so a walk takes seconds; after the call is cancelled the counts must not grow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import ListRootsResult, ResourceTemplateReference, Root

from patchbay_common import roots as roots_module
from patchbay_common.testing.clients import ERAS, Era, Launch, connect, http_server
from patchbay_common.testing.results import text
from patchbay_filesystem import walking
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio

FILE = ResourceTemplateReference(type="ref/resource", uri="file:///{+path}")
DIRS = 120
FILES = 10


def make(*args: str) -> Any:
    return build(Settings(_cli_parse_args=list(args)))  # type: ignore[call-arg]


@pytest.fixture
def wide(allowed: Path) -> Path:
    """allowed/wide: 120 directories of 10 small files each."""
    top = allowed / "wide"
    for d in range(DIRS):
        folder = top / f"d{d:03d}"
        folder.mkdir(parents=True)
        for f in range(FILES):
            (folder / f"f{f}.txt").write_text(f"line {d} {f}\nneedle\n")
    return top


class Probe:
    """Counts of directories listed and files read, kept in a file so a forked walk's count too."""

    def __init__(self, where: Path) -> None:
        self._path = where
        self.fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def __getitem__(self, kind: str) -> int:
        return self._path.read_bytes().count(kind[0].encode())


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Probe]:
    """Count (and slow) every directory listed by a walk and every file a content search reads.

    Walks run in a forked child (`forked`), so each count is a byte appended to a file both processes
    write: `probe["dirs"]`, `probe["files"]`.
    """
    counts = Probe(tmp_path / "probe-counts")
    scan, read = roots_module._scan, walking._read_file

    def slow_scan(fd: int) -> Any:
        os.write(counts.fd, b"d")
        time.sleep(0.02)
        return scan(fd)

    def slow_read(dir_fd: int, name: str, max_bytes: int) -> Any:
        os.write(counts.fd, b"f")
        time.sleep(0.002)
        return read(dir_fd, name, max_bytes)

    monkeypatch.setattr(roots_module, "_scan", slow_scan)
    monkeypatch.setattr(walking, "_read_file", slow_read)
    yield counts
    os.close(counts.fd)


CALLS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "directory_tree": lambda top: {"path": str(top)},
    "search_files": lambda top: {"path": str(top), "pattern": "*.none"},
    "search_content": lambda top: {"path": str(top), "pattern": "nothing-matches-this"},
}


@pytest.mark.parametrize("era", ERAS)
async def test_a_walk_reports_entries_visited(era: Era, wide: Path, allowed: Path, probe: Probe) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(make(str(allowed)), era=era) as client:
        started = time.monotonic()
        result = await client.call_tool(
            "search_files", {"path": str(wide), "pattern": "*.none"}, progress_callback=on_progress
        )
        took = time.monotonic() - started
    assert not result.is_error
    values = [v for v, _, _ in seen]
    assert len(seen) >= 3 and values == sorted(values), seen
    assert values[-1] == DIRS * FILES + DIRS  # every entry of every directory, the directories included
    assert seen[-1][2] == f"searching names under {wide}: {DIRS * FILES + DIRS} entries"
    assert took > 2  # the probe slows each directory: the notifications came while it walked


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("tool", sorted(CALLS))
async def test_a_cancelled_walk_visits_nothing_more(
    era: Era, tool: str, wide: Path, allowed: Path, probe: Probe
) -> None:
    async with connect(make(str(allowed)), era=era) as client:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await client.call_tool(tool, CALLS[tool](wide))
                raise AssertionError("the walk finished")

            group.start_soon(call)
            with anyio.fail_after(10):
                while probe["dirs"] < 5:  # noqa: ASYNC110 - the walk's process counts
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        await anyio.sleep(0.3)  # the directory or file being read when the call ended
        dirs, files = probe["dirs"], probe["files"]
        await anyio.sleep(1.0)
        assert (probe["dirs"], probe["files"]) == (dirs, files), "the walk went on after the call ended"
        assert dirs < DIRS
        # The server still answers, and a later walk of the same tree runs to its end.
        again = await client.call_tool("search_files", {"path": str(wide / "d000"), "pattern": "*.txt"})
        assert not again.is_error and text(again).count("f") >= FILES


@pytest.mark.parametrize("era", ERAS)
async def test_a_large_read_reports_bytes(era: Era, allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patchbay_filesystem import textfiles

    big = allowed / "big.log"
    big.write_bytes((b"y" * 99 + b"\n") * 60_000)  # 6 MB: read in a worker thread
    head = textfiles.read_head

    def slow_head(handle: Any, **options: Any) -> Any:
        handle.read(3_000_000)  # a slow disk: half the file read, then a pause
        time.sleep(0.6)
        handle.seek(0)
        return head(handle, **options)

    monkeypatch.setattr(textfiles, "read_head", slow_head)
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with connect(make(str(allowed)), era=era) as client:
        result = await client.call_tool(
            "read_text_file", {"path": str(big), "offset": 2, "limit": 3}, progress_callback=on_progress
        )
    assert not result.is_error and text(result).startswith("y")
    assert seen and all(total == big.stat().st_size for _, total in seen), seen
    # During the pause after half the file, a tick reports those bytes (on a loaded machine an earlier tick
    # may come before the first read ends, at 0).
    assert max(v for v, _ in seen) >= 3_000_000, seen
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)


@pytest.mark.parametrize("era", ERAS)
async def test_paths_complete_under_the_allowed_roots(era: Era, allowed: Path, base: Path) -> None:
    (allowed / ".env").write_text("TOKEN=x")
    (allowed / "secrets").mkdir()
    (allowed / "secrets" / "key.pem").write_text("k")
    for i in range(150):
        (allowed / "docs" / f"page{i:03d}.md").write_text("p")
    typed = str(allowed).lstrip("/")
    server = make(str(allowed), "--deny", ".env", "--deny", "secrets/")
    async with connect(server, era=era) as client:
        start = await client.complete(FILE, {"name": "path", "value": ""})
        top = await client.complete(FILE, {"name": "path", "value": typed + "/"})
        some = await client.complete(FILE, {"name": "path", "value": typed + "/s"})
        hidden = await client.complete(FILE, {"name": "path", "value": typed + "/secrets/"})
        outside = await client.complete(
            FILE, {"name": "path", "value": str(base / "outside").lstrip("/") + "/"}
        )
        many = await client.complete(FILE, {"name": "path", "value": typed + "/docs/p"})
        started = time.perf_counter()
        await client.complete(FILE, {"name": "path", "value": typed + "/docs/page1"})
        took = time.perf_counter() - started
    assert start.completion.values == [typed + "/"]
    assert top.completion.values == [f"{typed}/{n}" for n in ("docs/", "hello.txt", "src/")]
    assert some.completion.values == [f"{typed}/src/"]
    assert hidden.completion.values == [] and outside.completion.values == []
    assert len(many.completion.values) == 100 and many.completion.has_more
    assert took < 0.05


async def test_completion_follows_the_client_roots(allowed: Path) -> None:
    typed = str(allowed).lstrip("/")

    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=(allowed / "src").as_uri())])  # type: ignore[arg-type]

    async with connect(make(str(allowed)), era="legacy", list_roots=list_roots) as client:
        inside = await client.complete(FILE, {"name": "path", "value": typed + "/src/"})
        above = await client.complete(FILE, {"name": "path", "value": typed + "/"})
    assert inside.completion.values == [f"{typed}/src/main.py", f"{typed}/src/pkg/"]
    assert above.completion.values == [f"{typed}/src/"]  # only the client's root: hello.txt and docs are not


async def test_over_stdio_and_streamable_http(wide: Path, allowed: Path) -> None:
    typed = str(allowed).lstrip("/")

    async def check(client: Any) -> None:
        seen: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(progress)

        tree = await client.call_tool("directory_tree", {"path": str(wide)}, progress_callback=on_progress)
        assert not tree.is_error and seen and seen[-1] > 0
        found = await client.complete(FILE, {"name": "path", "value": typed + "/h"})
        assert found.completion.values == [f"{typed}/hello.txt"]

    launch = Launch("patchbay-filesystem", [str(allowed)])
    async with connect(launch, era="modern") as client:
        await check(client)
    with http_server(launch) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                await check(client)
