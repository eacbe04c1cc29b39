"""Per-call overhead of PatchbayServer over the bare SDK: the same echo tool over stdio, interleaved.

    uv run python bench/overhead.py [--rounds 8 --calls 300] [--otel]

With --otel a third server runs with OpenTelemetry on (`--otel`, spans exported over OTLP/HTTP to a sink in
this process, metrics kept for /metrics), interleaved with the other two: the figure is what tracing and
metrics add to a call over the same server with them off.

Both servers run as subprocesses with stderr going to a file (so patchbay writes its JSON log line per call
at INFO, as in production). Rounds alternate between them so machine noise hits both alike; the figure is
the difference of the p50s (and their ratio), which is what PatchbayServer adds to every call. On a busy
machine the round trip's noise is as large as that difference, so the servers' own CPU time per call
(from /proc, over the timed and warm-up calls of all rounds) is given as well: other processes barely move it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).parent))
from _harness import percentile, table, time_async

ECHO = str(Path(__file__).parent / "transport_echo_server.py")
# The bare SDK's echo as a coroutine, like patchbay's: the SDK runs a plain `def` tool in a worker thread,
# a thread hop per call that would be counted against the SDK (transport_echo_server.py --plain has one).
SDK_ECHO = """
import sys
from mcp.server import MCPServer
mcp = MCPServer("sdk-echo")
@mcp.tool()
async def echo(text: str) -> str:
    \"\"\"Return the text.\"\"\"
    return text
mcp.run()
"""


def otlp_sink() -> str:
    """A local OTLP/HTTP endpoint that accepts and drops every export (the collector's cost is not ours)."""

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


def server_pids() -> dict[str, int]:
    """This process's echo-server children by name (Linux /proc), to read their CPU time."""
    pids: dict[str, int] = {}
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in map(int, children.read_text().split()):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            name = "sdk" if b"--plain" in args else "patchbay+otel" if b"--otel" in args else "patchbay"
            pids[name] = pid
    return pids


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    rounds: int, calls: int, otel: bool = False
) -> tuple[dict[str, list[float]], dict[str, float]]:
    log = Path(tempfile.mkdtemp(prefix="patchbay-overhead-")) / "stderr.log"
    samples: dict[str, list[float]] = {"sdk": [], "patchbay": []}
    quiet = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    servers = {
        # the same environment for both (without env= the SDK passes only a few variables on)
        "sdk": StdioServerParameters(
            command=sys.executable, args=["-c", SDK_ECHO, "--plain"], env={**quiet, "PYTHONUNBUFFERED": "1"}
        ),
        "patchbay": StdioServerParameters(
            command=sys.executable,
            args=[ECHO, "--log-level", "INFO"],
            env={**quiet, "PYTHONUNBUFFERED": "1"},
        ),
    }
    if otel:
        samples["patchbay+otel"] = []
        servers["patchbay+otel"] = StdioServerParameters(
            command=sys.executable,
            args=[ECHO, "--log-level", "INFO", "--otel"],
            env={**quiet, "PYTHONUNBUFFERED": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_sink()},
        )
    with log.open("w") as errlog:
        async with contextlib.AsyncExitStack() as stack:
            clients = {  # the servers' stderr (the log lines) to the file, as the docstring says
                name: await stack.enter_async_context(
                    Client(stdio_client(params, errlog=errlog), mode="legacy")
                )
                for name, params in servers.items()
            }
            pids = server_pids()
            cpu = dict.fromkeys(clients, 0.0)
            for _ in range(rounds):
                for name, client in clients.items():

                    async def call(client: Client = client) -> object:
                        return await client.call_tool("echo", {"text": "hello"})

                    began = cpu_seconds(pids[name])
                    samples[name] += await time_async(call, calls, warmup=20)
                    cpu[name] += cpu_seconds(pids[name]) - began
    print(f"server stderr: {log} ({len(log.read_text().splitlines())} lines)")
    return samples, {name: spent / (rounds * (calls + 20)) * 1e6 for name, spent in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--otel", action="store_true", help="also a server with OpenTelemetry on")
    args = parser.parse_args()
    samples, cpu = anyio.run(measure, args.rounds, args.calls, args.otel)
    sdk, ours = percentile(samples["sdk"], 50), percentile(samples["patchbay"], 50)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    table(
        f"Per-call overhead over stdio (echo, p50 ms; load {load})",
        ["server", "p50 ms", "p90 ms", "N", "server CPU µs/call"],
        [
            [name, f"{percentile(s, 50):.3f}", f"{percentile(s, 90):.3f}", len(s), f"{cpu[name]:.0f}"]
            for name, s in samples.items()
        ],
    )
    print()  # ends the table for bench/report.py
    print(f"patchbay adds {ours - sdk:+.3f} ms per call (p50), {ours / sdk:.2f}x the bare SDK")
    print(f"patchbay's server CPU per call: {cpu['patchbay'] - cpu['sdk']:+.0f} µs over the bare SDK's")
    if "patchbay+otel" in samples:
        on = percentile(samples["patchbay+otel"], 50)
        print(f"OpenTelemetry on adds {on - ours:+.3f} ms per call (p50) over off, {on / ours:.2f}x")


if __name__ == "__main__":
    main()
