"""Shared pieces of the `make stress` scripts: registered servers with their components, process probes."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _harness import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from hardening import http_server, smoke_call

from patchbay_common.testing import components
from registry import SPECS, ServerSpec, TestEnv

__all__ = ["SPECS", "ServerSpec", "TestEnv", "environments", "fds", "http_server", "rss_mib", "smoke_call"]


@contextmanager
def environments(specs: list[ServerSpec]) -> Iterator[dict[str, TestEnv]]:
    """A prepared TestEnv per spec, with the real components they need running (as in tests/conftest.py)."""
    needed = {c for spec in specs for c in spec.components}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="patchbay-stress-") as tmp:
        urls: dict[str, str] = {}
        if "redis" in needed:
            urls["redis"] = str(stack.enter_context(components.redis_server()).url)
        if "postgres" in needed:
            urls["postgres"] = str(stack.enter_context(components.postgres_server()).dsn)
        envs = {}
        for spec in specs:
            folder = Path(tmp) / spec.name
            folder.mkdir()
            env = TestEnv(tmp=folder, urls={name: urls[name] for name in spec.components})
            if spec.prepare is not None:
                spec.prepare(env)
            envs[spec.name] = env
        yield envs


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (a browser server's Chromium counts), in MiB."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def fds(pid: int) -> int:
    """Open file descriptors of a process."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def children(pid: int) -> list[int]:
    """Every descendant of a process."""
    found: list[int] = []
    try:
        direct = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return found
    for child in map(int, direct):
        found += [child, *children(child)]
    return found
