"""HTTP throughput, external load generator: `tools/call` on stateless JSON streamable HTTP, side by side.

wrk (Debian package `wrk`, C, one thread) sends the same `tools/call` POST over keep-alive connections to:

- the official TypeScript SDK's minimal echo server (bench/transport_echo_official.mjs, Node 22, the SDK's
  documented stateless pattern: a server and a transport per request, JSON answers);
- the bare Python SDK (bench/transport_echo_server.py --plain-stateless: MCPServer.run as shipped);
- a bare PatchbayServer echo started by serve() like every patchbay server (its log line per call included);
- patchbay-sqlite `read_query` on its built-in sample database, one worker and `--workers 2`.

Two placements, each with its own server processes:

- one core: the server pinned to CPU 0 (taskset), wrk to CPU 1, so the generator never steals the
  server's core; goal: one patchbay worker >= 0.8x the bare Python SDK;
- two cores: server and wrk both on CPUs 0-1 (the whole machine), TypeScript against patchbay-sqlite with
  one worker and with `--workers 2`; goal: `--workers 2` >= 1.0x the TypeScript echo at c8 and c32.

Every server runs for the whole benchmark; rounds visit every (server, concurrency) pair in turn, so machine
noise (other jobs) falls on all alike; the figure per pair is the median over rounds of wrk's requests/s
and its p50 latency, and the server's CPU time per answer (all its processes and threads, from /proc: on a
shared machine it moves less than requests/s, which other jobs' load takes from). Every answer must be 2xx
(wrk counts the others; any is a failure), and each server's answer is checked once before timing.

    uv run python bench/http_vs_official.py [--rounds 3] [--seconds 5] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from _harness import CACHE, ROOT, table

from patchbay_common.testing.components import free_port

HERE = Path(__file__).resolve().parent
NODE = CACHE / "node22" / "node_modules" / ".bin" / "node"
NPM = CACHE / "npm" / "node_modules"
PY_ECHO = str(HERE / "transport_echo_server.py")
TS_ECHO = str(HERE / "transport_echo_official.mjs")
SQLITE = str(ROOT / ".venv" / "bin" / "patchbay-sqlite")
HTTP_FLAGS = ["--transport", "streamable-http", "--stateless", "--json-response"]
ECHO_CALL: dict[str, object] = {"name": "echo", "arguments": {"text": "hello"}}
SQL_CALL: dict[str, object] = {"name": "read_query", "arguments": {"query": "SELECT 6 * 7 AS answer"}}

TS = "TypeScript SDK echo"
SDK = "Python SDK echo"
OURS = "PatchbayServer echo"
SQL1 = "patchbay-sqlite read_query"
SQL2 = "patchbay-sqlite read_query --workers 2"


@dataclass
class Target:
    """One server process (or supervisor) under test, in one placement."""

    name: str
    placement: str  # "one core" or "two cores"
    argv: list[str]
    call: dict[str, object]
    expect: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    rps: dict[int, list[float]] = field(default_factory=dict)
    p50: dict[int, list[float]] = field(default_factory=dict)
    cpu_us: dict[int, list[float]] = field(default_factory=dict)  # server CPU microseconds per answer

    @property
    def server_cpus(self) -> str:
        return "0" if self.placement == "one core" else "0,1"

    @property
    def load_cpus(self) -> str:
        return "1" if self.placement == "one core" else "0,1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def targets() -> list[Target]:
    node = str(NODE.resolve())
    ts_env = {"PATCHBAY_NPM": str(NPM)}
    py = sys.executable
    made = []
    for placement in ("one core", "two cores"):
        made.append(Target(TS, placement, [node, TS_ECHO, "stateless", "{port}"], ECHO_CALL, "hello", ts_env))
        if placement == "one core":
            made.append(
                Target(SDK, placement, [py, PY_ECHO, "--plain-stateless", "{port}"], ECHO_CALL, "hello")
            )
            made.append(
                Target(OURS, placement, [py, PY_ECHO, *HTTP_FLAGS, "--port", "{port}"], ECHO_CALL, "hello")
            )
        made.append(Target(SQL1, placement, [SQLITE, *HTTP_FLAGS, "--port", "{port}"], SQL_CALL, "42"))
        if placement == "two cores":
            made.append(
                Target(
                    SQL2,
                    placement,
                    [SQLITE, *HTTP_FLAGS, "--workers", "2", "--port", "{port}"],
                    SQL_CALL,
                    "42",
                )
            )
    return made  # fmt: skip


def body(call: dict[str, object]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})


HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


def lua_script(call: dict[str, object], folder: Path) -> Path:
    """A wrk script that POSTs the `tools/call` request with MCP's headers."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body(call))}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in HEADERS.items()]
    path = folder / f"{call['name']}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def start(target: Target, logs: Path) -> None:
    """Start the server pinned to its CPUs; wait until it answers the call with the expected text."""
    target.port = free_port()
    argv = [
        "taskset",
        "-c",
        target.server_cpus,
        *(a.replace("{port}", str(target.port)) for a in target.argv),
    ]
    log = (logs / f"{target.name}-{target.placement}.log".replace(" ", "_")).open("wb")
    target.process = subprocess.Popen(  # stderr to a file: servers log as they would in production
        argv, env={**os.environ, **target.env}, stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while True:
        if target.process.poll() is not None:
            raise SystemExit(f"{target.name} exited with {target.process.returncode}; see {log.name}")
        try:
            answer = httpx2.post(target.url, content=body(target.call), headers=HEADERS, timeout=5)
            if (
                answer.status_code == 200
                and target.expect in answer.text
                and '"isError":true' not in answer.text
            ):
                return
            raise SystemExit(f"{target.name} answered {answer.status_code}: {answer.text[:300]}")
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{target.name} did not answer within 120 s; see {log.name}") from None
            time.sleep(0.2)


def stop(target: Target) -> None:
    if target.process is None or target.process.poll() is not None:
        return
    target.process.send_signal(signal.SIGTERM)
    try:
        target.process.wait(30)
    except subprocess.TimeoutExpired:
        target.process.kill()
        target.process.wait()


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P50 = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\b", re.MULTILINE)
_BAD = re.compile(
    r"Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


def wrk(target: Target, script: Path, connections: int, seconds: float) -> tuple[float, float]:
    """(requests/s, p50 ms) of one wrk run; any non-2xx answer or socket error ends the benchmark."""
    argv = [
        "taskset", "-c", target.load_cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--timeout", "30s", "--latency",
        "-s", str(script), target.url,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    for found in _BAD.finditer(out):
        if any(int(n) for n in found.groups() if n):
            raise SystemExit(f"{target.name} at c{connections}: failed requests:\n{out}")
    rps = _RPS.search(out)
    p50 = _P50.search(out)
    if not rps or not p50:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    return float(rps.group(1)), float(p50.group(1)) * scale


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and every process under it (workers), threads included (Linux)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        pending += [int(child) for child in children]
    return total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one wrk run")
    parser.add_argument("--concurrency", default="1,8,32", help="wrk connections, comma-separated")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    node_ok = NODE.exists() and (NPM / "@modelcontextprotocol" / "sdk").exists()
    missing = [what for what, ok in (
        ("wrk (apt-get install wrk)", shutil.which("wrk")),
        ("taskset (apt-get install util-linux)", shutil.which("taskset")),
        ("Node 22 and the TypeScript SDK in .cache (make setup)", node_ok),
    ) if not ok]  # fmt: skip
    if missing:
        raise SystemExit("missing: " + "; ".join(missing))
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two CPUs (server and load generator on separate cores)")
    os.environ.setdefault("PATCHBAY_ECHO_LOG_LEVEL", "INFO")
    os.environ.setdefault("PATCHBAY_SQLITE_LOG_LEVEL", "INFO")
    servers = targets()
    loads = [loadavg()]
    with tempfile.TemporaryDirectory(prefix="patchbay-http-bench-") as tmp:
        folder = Path(tmp)
        scripts = {t.name: lua_script(t.call, folder) for t in servers}
        try:
            for target in servers:
                start(target, folder)
                print(f"  started {target.name} ({target.placement}) on port {target.port}", file=sys.stderr)
            for target in servers:  # warm-up: JIT, caches, the first connections
                wrk(target, scripts[target.name], 8, 1)
            for round_no in range(args.rounds):
                for connections in levels:
                    for target in servers:
                        assert target.process is not None
                        before = cpu_seconds(target.process.pid)
                        rps, p50 = wrk(target, scripts[target.name], connections, args.seconds)
                        used = cpu_seconds(target.process.pid) - before
                        target.rps.setdefault(connections, []).append(rps)
                        target.p50.setdefault(connections, []).append(p50)
                        target.cpu_us.setdefault(connections, []).append(used / (rps * args.seconds) * 1e6)
                loads.append(loadavg())
                print(f"  round {round_no + 1}/{args.rounds} done, load {loads[-1]}", file=sys.stderr)
        finally:
            for target in servers:
                stop(target)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    by = {(t.name, t.placement): t for t in servers}
    rows = []
    for target in servers:
        ts = by[(TS, target.placement)]
        sdk = by.get((SDK, target.placement))
        for c in levels:
            rps = med(target.rps[c])
            rows.append([
                target.placement, target.name, c, f"{rps:.0f}", f"{med(target.p50[c]):.2f}",
                f"{med(target.cpu_us[c]):.0f}",
                f"{rps / med(ts.rps[c]):.2f}x", f"{rps / med(sdk.rps[c]):.2f}x" if sdk else "-",
            ])  # fmt: skip
    table(
        f"tools/call over stateless JSON streamable HTTP, wrk -t1 keep-alive, median of {args.rounds} "
        f"interleaved rounds of {args.seconds:g} s (load average {loads[0]} at start, {loads[-1]} at end)",
        ["placement", "server", "conns", "req/s", "p50 ms", "CPU us/answer", "vs TS", "vs Python SDK"],
        rows,
    )
    goals = []
    for c in levels:
        ours = med(by[(SQL2, "two cores")].rps[c]) / med(by[(TS, "two cores")].rps[c])
        one = med(by[(SQL1, "one core")].rps[c]) / med(by[(SDK, "one core")].rps[c])
        echo = med(by[(OURS, "one core")].rps[c]) / med(by[(SDK, "one core")].rps[c])
        goals.append([f"c{c}", f"{ours:.2f}x", "met" if ours >= 1.0 else "missed",
                      f"{one:.2f}x", "met" if one >= 0.8 else "missed", f"{echo:.2f}x"])  # fmt: skip
    table(
        "issue 22 goals: --workers 2 sqlite >= 1.0x TS echo on two cores (c8, c32); one worker >= 0.8x the "
        "bare Python SDK on one core",
        ["conns", "sqlite w2 / TS", "goal 1.0x", "sqlite w1 / SDK", "goal 0.8x", "patchbay echo / SDK"],
        goals,
    )
    print(
        f"\nwrk: taskset -c CPUS wrk -t1 -cN -d{args.seconds:g}s --timeout 30s --latency -s call.lua URL;"
        " servers:"
    )
    for target in servers:
        shown = " ".join(a for a in target.argv).replace(str(ROOT) + "/", "")
        print(f"  {target.placement}: {target.name}: taskset -c {target.server_cpus} {shown}")


if __name__ == "__main__":
    main()
