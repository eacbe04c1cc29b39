"""CPU per tool call with OpenTelemetry off and on, in process, alternating runs (robust to a busy machine).

    uv run python bench/otel_overhead.py [--runs 4 --calls 2000]

Each run is a fresh interpreter (telemetry is per process) that builds the echo PatchbayServer, makes
`calls` in-memory `tools/call` round trips (client and server in one process, so the figure is the whole
round trip's CPU) and prints its CPU seconds per call (`time.process_time`, which counts the exporter's
background thread too). Off and on runs alternate; "on" exports its spans over OTLP/HTTP to a sink in this
process and keeps its metrics for /metrics. Wall-clock figures over stdio: bench/overhead.py --otel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUN = """
import json, sys, time, anyio
from mcp import Client
from patchbay_common.app import PatchbayServer
from patchbay_common.settings import CommonSettings

server = PatchbayServer("echo", version="1", settings=CommonSettings(_cli_parse_args=sys.argv[2:]))

@server.tool()
async def echo(text: str) -> str:
    "Echo."
    return text

async def main(calls):
    async with Client(server, mode="legacy") as client:
        for _ in range(100):
            await client.call_tool("echo", {"text": "hello"})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await client.call_tool("echo", {"text": "hello"})
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu_ms": cpu * 1000 / calls, "wall_ms": wall * 1000 / calls}))

anyio.run(main, int(sys.argv[1]))
"""


def sink() -> str:
    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    quiet = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    quiet["PYTHONWARNINGS"] = "ignore"
    endpoint = sink()
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(args.runs):
        for mode in ("off", "on"):
            flags = ["--log-level", "WARNING"] + (["--otel"] if mode == "on" else [])
            env = {**quiet, **({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} if mode == "on" else {})}
            out = subprocess.run(
                [sys.executable, "-c", RUN, str(args.calls), *flags],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'telemetry':<10} {'CPU ms/call (median)':>22} {'wall ms/call (median)':>22} runs")
    medians = {}
    for mode, runs in results.items():
        cpu = statistics.median(r["cpu_ms"] for r in runs)
        wall = statistics.median(r["wall_ms"] for r in runs)
        medians[mode] = cpu
        print(f"{mode:<10} {cpu:>22.3f} {wall:>22.3f} {len(runs):>4}")
    on, off = medians["on"], medians["off"]
    print(f"OpenTelemetry on adds {on - off:+.3f} ms of CPU per call ({on / off:.2f}x off)")


if __name__ == "__main__":
    main()
