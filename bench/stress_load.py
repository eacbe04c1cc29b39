"""Load over streamable HTTP, every registered server: concurrent sessions for minutes, zero errors, no leaks.

For each server (its zero-configuration test launch, real components running): `--sessions` concurrent
clients call the server's read-only smoke call (tests/hardening.py) and `tools/list` for `--seconds`;
every client closes its session and opens a new one every `--churn` calls, so session setup and teardown
are under load too. Checked:

- zero errors: no exception, no JSON-RPC error, and every smoke call answers as the first one did;
- no growth: RSS and open descriptors after the run (sessions closed, one settle second) against the
  figures after the warm-up; RSS may grow by at most `--rss-slack` MiB, descriptors by at most 8.

    uv run python bench/stress_load.py [--only sqlite,redis] [--seconds 60] [--sessions 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _harness import percentile, table
from _stress import SPECS, ServerSpec, TestEnv, environments, fds, http_server, rss_mib, smoke_call

from patchbay_common.testing.clients import HttpServer, connect


async def load(server: HttpServer, spec: ServerSpec, args: argparse.Namespace) -> dict[str, Any]:
    """Run the load; return counts, latencies and the resource figures."""
    tool, arguments = smoke_call(spec)
    async with connect(server, era="legacy") as client:
        expected = (await client.call_tool(tool, arguments)).is_error
    errors: list[str] = []
    latencies: list[float] = []
    calls = 0

    async def one_client(stop: float) -> None:
        nonlocal calls
        while time.monotonic() < stop:
            try:
                async with connect(server, era="legacy") as client:
                    for _ in range(args.churn):
                        if time.monotonic() >= stop:
                            break
                        began = time.perf_counter()
                        result = await client.call_tool(tool, arguments)
                        latencies.append((time.perf_counter() - began) * 1000)
                        if result.is_error != expected:
                            errors.append(f"{tool}: isError {result.is_error}: {result.content[:1]}")
                        await client.list_tools()
                        calls += 2
            except Exception as exc:  # every failure counts, whatever its kind
                errors.append(f"{type(exc).__name__}: {exc}")

    pid = server.process.pid
    warmup = min(10.0, args.seconds / 5)
    await asyncio.gather(*(one_client(time.monotonic() + warmup) for _ in range(args.sessions)))
    await asyncio.sleep(1)
    rss0, fd0 = rss_mib(pid), fds(pid)
    latencies.clear()
    calls = 0
    began = time.monotonic()
    await asyncio.gather(*(one_client(began + args.seconds) for _ in range(args.sessions)))
    elapsed = time.monotonic() - began
    await asyncio.sleep(1)
    rss1, fd1 = rss_mib(pid), fds(pid)
    return {
        "calls": calls, "rps": calls / elapsed, "errors": errors, "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99), "rss": (rss0, rss1), "fds": (fd0, fd1),
    }  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated server names (default: every registered server)")
    parser.add_argument("--seconds", type=float, default=60.0, help="load per server, after a warm-up")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--churn", type=int, default=50, help="calls per session before it is replaced")
    parser.add_argument("--rss-slack", type=float, default=16.0, help="MiB of RSS growth allowed")
    args = parser.parse_args()
    specs = [s for s in SPECS if not args.only or s.name in args.only.split(",")]
    rows, failures = [], []
    envs: dict[str, TestEnv]
    with environments(specs) as envs:
        for spec in specs:
            with http_server(spec.launch(envs[spec.name]), "streamable-http") as server:
                result = await load(server, spec, args)
            (rss0, rss1), (fd0, fd1) = result["rss"], result["fds"]
            problems = []
            if result["errors"]:
                problems.append(f"{len(result['errors'])} errors, first: {result['errors'][0]}")
            if rss1 - rss0 > args.rss_slack:
                problems.append(f"RSS grew {rss1 - rss0:.1f} MiB")
            if fd1 - fd0 > 8:
                problems.append(f"open descriptors grew {fd0} -> {fd1}")
            rows.append(
                [
                    f"patchbay-{spec.name}", result["calls"], result["rps"], result["p50"], result["p99"],
                    len(result["errors"]), f"{rss0:.0f} -> {rss1:.0f}", f"{fd0} -> {fd1}",
                    "ok" if not problems else "FAIL",
                ]
            )  # fmt: skip
            failures += [f"patchbay-{spec.name}: {p}" for p in problems]
            print(f"  loaded patchbay-{spec.name}", file=sys.stderr)
    table(
        f"streamable HTTP load: {args.sessions} concurrent sessions for {args.seconds:g} s per server, "
        f"a new session every {args.churn} calls (latency of the smoke call, ms)",
        ["server", "requests", "req/s", "p50", "p99", "errors", "RSS MiB", "fds", "verdict"],
        rows,
    )
    if failures:
        print("\n" + "\n".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
