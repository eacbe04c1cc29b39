"""Requests per second and p50/p99 latency per transport: patchbay's server stack against the official TS SDK.

Three servers with the same one `echo` tool (echo-sized work, so the figures are the stack's own cost):
a PatchbayServer started by `serve()` like every patchbay server (bench/transport_echo_server.py), the
Python SDK's bare MCPServer, and the official TypeScript SDK's McpServer (bench/transport_echo_official.mjs,
Node 22). Over stdio and streamable HTTP (stateful, SSE answers), driven by the MCP Python SDK client:

- latency: one session, sequential calls, p50 and p99;
- throughput: `--sessions` concurrent sessions (HTTP) or concurrent requests on the one session (stdio)
  calling for `--seconds`, requests per second; zero errors required.

    uv run python bench/transport_vs_official.py [--calls 300] [--seconds 5] [--sessions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _harness import CACHE, percentile, rss_kib, table

from patchbay_common.testing.clients import HttpServer, Launch, connect
from patchbay_common.testing.components import free_port

HERE = Path(__file__).resolve().parent
NODE = CACHE / "node22" / "node_modules" / ".bin" / "node"
NPM = CACHE / "npm" / "node_modules"
PY_ECHO = str(HERE / "transport_echo_server.py")
TS_ECHO = str(HERE / "transport_echo_official.mjs")


def launches(transport: str, port: int) -> dict[str, Launch]:
    """Each server's command line for `transport` (HTTP ones listen on `port`)."""
    ts_env = {"PATCHBAY_NPM": str(NPM)}
    node = str(NODE.resolve())
    if transport == "stdio":
        return {
            "patchbay (PatchbayServer)": Launch(sys.executable, [PY_ECHO]),
            "Python SDK MCPServer": Launch(sys.executable, [PY_ECHO, "--plain", "stdio"]),
            "official TypeScript SDK": Launch(node, [TS_ECHO, "stdio"], ts_env),
        }
    return {
        "patchbay (PatchbayServer)": Launch(
            sys.executable, [PY_ECHO, "--transport", "streamable-http", "--port", str(port)]
        ),
        "Python SDK MCPServer": Launch(sys.executable, [PY_ECHO, "--plain", str(port)]),
        "official TypeScript SDK": Launch(node, [TS_ECHO, "http", str(port)], ts_env),
    }


@asynccontextmanager
async def started(launch: Launch, transport: str, port: int) -> Any:
    """For HTTP: the server process, once its port accepts connections; for stdio: the launch itself."""
    if transport == "stdio":
        yield launch
        return
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        launch.argv(), env=launch.environment(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{launch.argv()} did not start (exit {process.poll()})") from None
                await asyncio.sleep(0.05)
        yield HttpServer(process, port, "streamable-http")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def latency(target: Any, calls: int) -> tuple[list[float], int | None]:
    """Milliseconds per sequential echo call on one session, and the server's RSS afterwards (HTTP)."""
    async with connect(target, era="legacy") as client:
        for _ in range(20):
            await client.call_tool("echo", {"text": "warm"})
        samples = []
        for index in range(calls):
            began = time.perf_counter()
            result = await client.call_tool("echo", {"text": f"hello {index}"})
            samples.append((time.perf_counter() - began) * 1000)
            assert not result.is_error
    rss = rss_kib(target.process.pid) if isinstance(target, HttpServer) else None
    return samples, rss


async def throughput(target: Any, sessions: int, seconds: float) -> tuple[float, int]:
    """Requests per second over `sessions` concurrent callers, and how many calls failed."""
    done = 0
    errors = 0
    stop = time.monotonic() + seconds

    async def caller(client: Any) -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            try:
                result = await client.call_tool("echo", {"text": "x" * 64})
                errors += bool(result.is_error)
                done += 1
            except Exception:
                errors += 1

    if isinstance(target, HttpServer):

        async def session() -> None:
            async with connect(target, era="legacy") as client:
                await caller(client)

        began = time.monotonic()
        await asyncio.gather(*(session() for _ in range(sessions)))
    else:
        async with connect(target, era="legacy") as client:
            began = time.monotonic()
            await asyncio.gather(*(caller(client) for _ in range(sessions)))
    return done / (time.monotonic() - began), errors


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    if not NODE.exists() or not (NPM / "@modelcontextprotocol" / "sdk").exists():
        sys.exit("Node 22 or the TypeScript SDK is missing in .cache: run `make setup`")
    os.environ.setdefault("PATCHBAY_ECHO_LOG_LEVEL", "INFO")  # patchbay's default: a log line per call
    rows = []
    for transport in ("stdio", "streamable-http"):
        results: dict[str, dict[str, float]] = {}
        for name in launches(transport, 0):
            port = free_port()
            async with started(launches(transport, port)[name], transport, port) as target:
                samples, _rss = await latency(target, args.calls)
            port = free_port()
            async with started(launches(transport, port)[name], transport, port) as target:
                rps, errors = await throughput(target, args.sessions, args.seconds)
            if errors:
                raise SystemExit(f"{name} over {transport}: {errors} failed calls under load")
            results[name] = {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "rps": rps}
            print(f"  measured {name} over {transport}", file=sys.stderr)
        official = results["official TypeScript SDK"]
        for name, figures in results.items():
            rows.append(
                [
                    transport, name, figures["p50"], figures["p99"], figures["rps"],
                    f"{figures['p50'] / official['p50']:.2f}x", f"{figures['rps'] / official['rps']:.2f}x",
                ]
            )  # fmt: skip
    table(
        f"echo over each transport: latency of {args.calls} sequential calls (ms), throughput of "
        f"{args.sessions} concurrent callers for {args.seconds:g} s (req/s), zero errors",
        ["transport", "server", "p50", "p99", "req/s", "p50 vs TS", "req/s vs TS"],
        rows,
    )


if __name__ == "__main__":
    asyncio.run(main())
