"""Per-call overhead of PatchbayServer over the bare SDK: the same echo tool over stdio, interleaved.

    uv run python bench/overhead.py [--rounds 8 --calls 300]

Both servers run as subprocesses with stderr going to a file (so patchbay writes its JSON log line per call
at INFO, as in production). Rounds alternate between them so machine noise hits both alike; the figure is
the difference of the p50s (and their ratio), which is what PatchbayServer adds to every call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).parent))
from _harness import percentile, table, time_async

ECHO = str(Path(__file__).parent / "transport_echo_server.py")


async def measure(rounds: int, calls: int) -> dict[str, list[float]]:
    log = Path(tempfile.mkdtemp(prefix="patchbay-overhead-")) / "stderr.log"
    samples: dict[str, list[float]] = {"sdk": [], "patchbay": []}
    servers = {
        "sdk": StdioServerParameters(command=sys.executable, args=[ECHO, "--plain", "stdio"]),
        "patchbay": StdioServerParameters(
            command=sys.executable,
            args=[ECHO, "--log-level", "INFO"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        ),
    }
    with log.open("w") as errlog:
        async with (
            Client(servers["sdk"], mode="legacy") as sdk,
            Client(servers["patchbay"], mode="legacy") as ours,
        ):
            clients = {"sdk": sdk, "patchbay": ours}
            for _ in range(rounds):
                for name, client in clients.items():

                    async def call(client: Client = client) -> object:
                        return await client.call_tool("echo", {"text": "hello"})

                    samples[name] += await time_async(call, calls, warmup=20)
    del errlog
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    samples = anyio.run(measure, args.rounds, args.calls)
    sdk, ours = percentile(samples["sdk"], 50), percentile(samples["patchbay"], 50)
    table(
        "Per-call overhead over stdio (echo, p50 ms)",
        ["server", "p50 ms", "p90 ms", "N"],
        [
            [name, f"{percentile(s, 50):.3f}", f"{percentile(s, 90):.3f}", len(s)]
            for name, s in samples.items()
        ],
    )
    print(f"patchbay adds {ours - sdk:+.3f} ms per call (p50), {ours / sdk:.2f}x the bare SDK")


if __name__ == "__main__":
    main()
