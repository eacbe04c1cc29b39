"""Helpers shared by the side-by-side benchmarks: timing, percentiles, process memory, a table printer."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from patchbay_common.testing.clients import RAW_HANDSHAKE

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
OFFICIAL = CACHE / "official"


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, by linear interpolation."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def time_async(operation: Callable[[], Awaitable[object]], repeat: int, warmup: int = 3) -> list[float]:
    """Milliseconds per call of `operation`, after `warmup` untimed calls."""
    for _ in range(warmup):
        await operation()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await operation()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def child_pids() -> set[int]:
    """PIDs of this process's direct children (a stdio server the SDK client started)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


def children_rss_kib() -> int:
    """Resident memory of this process's direct children together, in KiB."""
    total = 0
    for pid in child_pids():
        try:
            total += rss_kib(pid)
        except (OSError, RuntimeError):
            continue
    return total


def summary(samples: Sequence[float]) -> str:
    """p50 / p90 / mean of samples in ms."""
    p50, p90, mean = percentile(samples, 50), percentile(samples, 90), statistics.fmean(samples)
    return f"p50 {p50:8.1f}  p90 {p90:8.1f}  mean {mean:8.1f}"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table to stdout."""
    cells = [
        [str(c) for c in header],
        *[[f"{c:.1f}" if isinstance(c, float) else str(c) for c in r] for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print(
            "  ".join(
                cell.rjust(width) if i else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


HANDSHAKE = RAW_HANDSHAKE  # initialize, initialized and tools/list in one write


def spawn_to_tools(argv: list[str]) -> tuple[float, float]:
    """Milliseconds from spawn to the initialize answer and to the tools/list answer, over stdio."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    assert process.stdin and process.stdout
    process.stdin.write(HANDSHAKE)
    process.stdin.flush()
    initialized = listed = 0.0
    for line in process.stdout:
        message = json.loads(line)
        if message.get("id") == 1:
            initialized = (time.perf_counter() - started) * 1000
        if message.get("id") == 2:
            listed = (time.perf_counter() - started) * 1000
            break
    process.stdin.close()
    process.wait(timeout=10)
    return initialized, listed
