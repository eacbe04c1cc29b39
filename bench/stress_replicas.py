"""Two replicas behind the deploy nginx template, one killed (SIGKILL) and restarted, again and again.

The soak version of tests/test_replicas.py, with the same pieces (deploy/nginx/patchbay.conf.template
rendered with a self-signed certificate, two patchbay-sqlite replicas writing one SQLite file). For each
setup (stateless round robin; handshake-era sessions routed by nginx's session tag, Redis event store):

- `--clients` MCP clients (half handshake era, half 2026-07-28) write keys through nginx for `--seconds`,
  each key once with `INSERT OR IGNORE`, retrying on clean errors (nginx's 503/429 JSON-RPC errors) and
  starting a new session when theirs is gone (404);
- every `--kill-every` seconds one replica (in turn) gets SIGKILL and is started again on its port;
- at the end every key written must be in the table exactly once, and no client may have seen anything
  but those clean errors (a hang, a garbled stream, an unexpected error fail the run).

    uv run python bench/stress_replicas.py [--clients 8] [--seconds 30] [--kill-every 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, table

sys.path.insert(0, str(ROOT / "tests"))

from test_replicas import (
    MODES,
    Outcome,
    keys_in,
    make_table,
    nginx_front,
    replica,
    sqlite_launch,
    writer,
)

from patchbay_common.testing import components


async def soak(mode: str, clients: int, seconds: float, kill_every: float, redis_url: str) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="patchbay-stress-replicas-") as tmp:
        db = make_table(Path(tmp))
        launch = sqlite_launch(db, redis_url if mode == "sessions" else None)
        with contextlib.ExitStack() as stack:
            pair = [
                stack.enter_context(replica(launch, MODES[mode], Path(tmp), name)) for name in ("r1", "r2")
            ]
            ports = (pair[0].port, pair[1].port)
            front = stack.enter_context(nginx_front(ports))
            outcome = Outcome()
            began = time.monotonic()
            stop_at = began + seconds
            keys = [[f"{mode}-{c}-{i:05d}" for i in range(100_000)] for c in range(clients)]
            writers = [
                asyncio.create_task(writer(front, ("legacy", "modern")[c % 2], k, outcome, stop_at=stop_at))
                for c, k in enumerate(keys)
            ]
            kills, turn = 0, 0
            while time.monotonic() + kill_every < stop_at:
                await asyncio.sleep(kill_every)
                victim = pair[turn]
                victim.kill()
                kills += 1
                await asyncio.sleep(kill_every / 3)
                # Back on its port (nginx's fail_timeout lets it in again within 5 s).
                pair[turn] = stack.enter_context(
                    replica(launch, MODES[mode], Path(tmp), f"r{turn + 1}", port=ports[turn])
                )
                turn = 1 - turn
            await asyncio.gather(*writers)
            took = time.monotonic() - began
            stored = keys_in(db)
        lost = sorted(outcome.written - set(stored))
        twice = len(stored) - len(set(stored))
        print(
            f"  {mode}: {len(outcome.written)} keys, {kills} kills, {len(outcome.retried)} clean retries, "
            f"{outcome.new_sessions} new sessions, {len(outcome.unclean)} unclean, {len(lost)} lost",
            file=sys.stderr,
        )
        problems = [*outcome.unclean[:5], *(f"lost {k}" for k in lost[:5])]
        if twice:
            problems.append(f"{twice} keys stored twice")
        return [
            mode, len(outcome.written), len(outcome.written) / took, kills, len(outcome.retried),
            outcome.new_sessions, len(outcome.unclean), len(lost), "; ".join(problems)[:300],
        ]  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="load per setup")
    parser.add_argument("--kill-every", type=float, default=6.0, help="seconds between kills")
    args = parser.parse_args()
    rows = []
    with components.redis_server() as redis:
        for mode in MODES:
            rows.append(await soak(mode, args.clients, args.seconds, args.kill_every, str(redis.url)))
    table(
        f"patchbay-sqlite: two replicas behind nginx (TLS), {args.clients} clients writing for "
        f"{args.seconds:g} s, one replica SIGKILLed every {args.kill_every:g} s and restarted",
        [
            "setup",
            "keys written",
            "writes/s",
            "kills",
            "clean retries",
            "new sessions",
            "unclean",
            "lost",
            "problems",
        ],
        rows,
    )
    if any(row[6] or row[7] for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
