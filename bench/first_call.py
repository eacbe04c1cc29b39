"""The first tool call after start-up, with and without warm-up imports (patchbay-redis, real redis-server).

patchbay-redis imports redis-py when its first call connects. With warm-up (the default) it imports it in a
background thread once the client has connected (`notifications/initialized`). Both ways are started in
turns over stdio (raw JSON-RPC): initialize, initialized, tools/list, then after a pause that stands for the
model choosing its call (`--pause`, 0 = the call follows the listing at once) one `get`, timed from request
to answer. "without" is the same server with the warm-up turned off in its process (Warmup.start replaced by
a no-op), i.e. the lazy import as it was.

    uv run python bench/first_call.py [--runs 9] [--pause 0,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import table

from patchbay_common.testing.components import redis_server

LAZY = (
    "import patchbay_common.warmup as w; w.Warmup.start = lambda self: None; "
    "from patchbay_redis.server import main; main()"
)
WARM = "from patchbay_redis.server import main; main()"


def first_call(code: str, url: str, pause: float) -> float:
    """Milliseconds of the first `get` after the handshake and a listing, `pause` seconds later."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--url", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin and process.stdout

    def send(message: dict[str, object]) -> None:
        assert process.stdin
        process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.flush()

    def answer(wanted: int) -> dict[str, object]:
        assert process.stdout
        for line in process.stdout:
            message = json.loads(line)
            if message.get("id") == wanted:
                return dict(message)
        raise RuntimeError("the server exited")

    try:
        hello = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "0"},
        }
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
        answer(1)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        answer(2)
        time.sleep(pause)
        began = time.perf_counter()
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
              "params": {"name": "get", "arguments": {"key": "greeting"}}})  # fmt: skip
        result = answer(3)
        elapsed = (time.perf_counter() - began) * 1000
        if "hello" not in json.dumps(result):
            raise RuntimeError(f"unexpected answer: {result}")
        return elapsed
    finally:
        process.stdin.close()
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pause", default="0,2", help="seconds between the listing and the call")
    args = parser.parse_args()
    pauses = [float(p) for p in args.pause.split(",")]
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    samples: dict[tuple[str, float], list[float]] = {}
    with redis_server() as redis:
        import redis as redis_py

        redis_py.Redis.from_url(str(redis.url)).set("greeting", "hello")
        for _ in range(args.runs):  # interleaved
            for pause in pauses:
                for label, code in (("without warm-up", LAZY), ("with warm-up", WARM)):
                    samples.setdefault((label, pause), []).append(first_call(code, str(redis.url), pause))
    rows = []
    for pause in pauses:
        lazy = statistics.median(samples[("without warm-up", pause)])
        warm = statistics.median(samples[("with warm-up", pause)])
        rows.append([f"{pause:g}", f"{lazy:.1f}", f"{warm:.1f}", f"{warm / lazy:.2f}x"])
    table(
        f"patchbay-redis first `get` after start-up, ms, p50 of {args.runs} interleaved starts (load {load})",
        ["pause after tools/list (s)", "without warm-up", "with warm-up", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
