"""Faults: upstream HTTP errors and silence, SIGTERM mid-call, Chromium killed, a cancelled query.

Each fault is injected into a real server and judged the same way: the call in flight fails with a clear
text (never a generic internal error, never a hang past the deadline), the next calls recover without
restarting the server, and nothing is done twice.

- upstream HTTP (patchbay-fetch against a local site): 500, 503, 429 with Retry-After, a reset connection,
  an answer after 2 s, and no answer at all;
- SIGTERM while a call is in flight over streamable HTTP: the call still gets its answer, and the server
  exits 0 within its 5 s grace;
- the browser process killed under patchbay-browser: the next call reports it or starts a new browser, and
  the one after works;
- client cancellation of `SELECT pg_sleep(30)` through patchbay-postgres: the query disappears from
  pg_stat_activity (cancelled on the database, not left running).

PostgreSQL and Redis stopped and restarted mid-session, and each API's 429 handling, have tests in the
servers' own suites; they are run here too (`LINKED`), not duplicated.

    uv run python bench/stress_faults.py [--skip-linked]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import anyio
from _harness import ROOT, table
from _stress import children, http_server

from patchbay_common.testing import components
from patchbay_common.testing.clients import Launch, connect

LINKED = [
    "servers/redis/tests/test_resilience.py::test_restart_gives_clear_errors_then_recovers",
    "servers/postgres/tests/test_reliability.py::test_restart_mid_session_errors_then_recovers",
    "servers/postgres/tests/test_reliability.py::test_listen_channel_survives_a_restart",
    "servers/postgres/tests/test_query.py::test_statement_timeout_stops_long_queries",
    "servers/search/tests/test_brave.py::test_429_that_never_ends",
    "servers/search/tests/test_brave.py::test_timeout",
    "servers/slack/tests/test_api.py::test_writes_are_retried_after_429_too",
    "servers/github/tests/test_api.py::test_429_with_long_retry_after_tells_the_model_when",
    "servers/fetch/tests/test_web.py::test_429_is_retried_after_retry_after",
]
CRASH = "failed with an internal error"


class Upstream(BaseHTTPRequestHandler):
    """A site whose paths misbehave on purpose; counts the requests per path."""

    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        Upstream.hits[path] = Upstream.hits.get(path, 0) + 1
        if path == "/robots.txt":
            return self._send(404, b"")
        if path in ("/500", "/503"):
            return self._send(int(path[1:]), b"<h1>upstream broke</h1>")
        if path == "/429":
            return self._send(429, b"slow down", [("Retry-After", "1")])
        if path == "/reset":
            self.connection.shutdown(2)
            return None
        if path == "/slow":
            time.sleep(2)
        if path == "/never":
            time.sleep(120)
        body = (
            b"<html><head><title>ok</title></head><body><h1>Fine</h1><p>"
            + path.encode()
            + b"</p></body></html>"
        )
        return self._send(200, body, [("Content-Type", "text/html")])

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for key, value in headers or []:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def text_of(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def timed_call(client: Any, tool: str, arguments: dict[str, Any], limit: float) -> tuple[Any, float]:
    began = time.monotonic()
    with anyio.fail_after(limit):
        result = await client.call_tool(tool, arguments)
    return result, time.monotonic() - began


async def upstream_faults(rows: list[list[object]], failures: list[str]) -> None:
    fetch = [
        "--allow-host",
        "127.0.0.1",
        "--fetch-timeout",
        "3",
        "--tool-timeout",
        "8",
        "--ignore-robots-txt",
    ]
    with upstream() as site:
        async with connect(Launch("patchbay-fetch", fetch), era="legacy") as client:
            cases = [("/ok", False), ("/500", True), ("/503", True), ("/429", True), ("/reset", True),
                     ("/slow", False), ("/never", True), ("/ok2", False)]  # fmt: skip
            for path, expect_error in cases:
                try:
                    result, took = await timed_call(client, "fetch", {"url": site + path}, 15)
                except TimeoutError:
                    failures.append(f"fetch {path}: no answer within 15 s")
                    rows.append(["fetch upstream " + path, "-", "HANG", "FAIL"])
                    continue
                text = text_of(result)
                ok = result.is_error == expect_error and CRASH not in text
                if not ok:
                    failures.append(f"fetch {path}: isError {result.is_error}: {text[:200]}")
                first = text.strip().splitlines()[0][:90] if text.strip() else ""
                rows.append([f"fetch upstream {path}", f"{took:.1f} s", first, "ok" if ok else "FAIL"])
    if Upstream.hits.get("/500", 0) > 3 or Upstream.hits.get("/ok", 0) != 1:
        failures.append(f"fetch: requests per path {Upstream.hits}")


async def sigterm_drain(rows: list[list[object]], failures: list[str]) -> None:
    fetch = Launch("patchbay-fetch", ["--allow-host", "127.0.0.1", "--ignore-robots-txt"])
    with upstream() as site, http_server(fetch, "streamable-http") as server:
        async with connect(server, era="legacy") as client:
            call = asyncio.create_task(timed_call(client, "fetch", {"url": site + "/slow"}, 15))
            await asyncio.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            try:
                result, took = await call
                ok = not result.is_error
                rows.append(
                    [
                        "SIGTERM with a 2 s call in flight",
                        f"{took:.1f} s",
                        text_of(result)[:90],
                        "ok" if ok else "FAIL",
                    ]
                )
                if not ok:
                    failures.append(f"drain: the in-flight call failed: {text_of(result)[:200]}")
            except Exception as exc:
                rows.append(["SIGTERM with a 2 s call in flight", "-", repr(exc)[:90], "FAIL"])
                failures.append(f"drain: the in-flight call got no answer: {exc!r}")
            code = await asyncio.to_thread(server.process.wait, 10)
            rows.append(["  server exit after SIGTERM", "", f"exit {code}", "ok" if code == 0 else "FAIL"])
            if code != 0:
                failures.append(f"drain: exit {code}")


async def browser_killed(rows: list[list[object]], failures: list[str]) -> None:
    chromium = components.chromium_executable()
    launch = Launch(
        "patchbay-browser",
        ["--allow-host", "127.0.0.1", "--executable-path", chromium, "--tool-timeout", "30"],
    )
    with upstream() as site:
        async with connect(launch, era="legacy") as client:
            first, _ = await timed_call(client, "navigate", {"url": site + "/ok"}, 60)
            if first.is_error:
                failures.append(f"browser: first navigate failed: {text_of(first)[:200]}")
            server_pid = _server_pid("patchbay-browser")
            killed = [pid for pid in children(server_pid) if "chrom" in _cmdline(pid)]
            for pid in killed:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            second, took = await timed_call(client, "navigate", {"url": site + "/ok2"}, 60)
            third, _ = await timed_call(client, "navigate", {"url": site + "/ok3"}, 60)
            text2 = text_of(second)
            ok = CRASH not in text2 and not third.is_error
            rows.append([f"browser: {len(killed)} Chromium processes killed", f"{took:.1f} s",
                         ("isError: " if second.is_error else "") + text2.strip().splitlines()[0][:80],
                         "ok" if ok else "FAIL"])  # fmt: skip
            rows.append(
                [
                    "  the call after that",
                    "",
                    "isError" if third.is_error else "answered",
                    "ok" if ok else "FAIL",
                ]
            )
            if not ok:
                failures.append(f"browser: after the kill: {text2[:200]} / then {text_of(third)[:200]}")


def _server_pid(command: str) -> int:
    mine = os.getpid()
    for pid in children(mine):
        if command in _cmdline(pid):
            return pid
    raise RuntimeError(f"no {command} child process")


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


async def cancelled_query(rows: list[list[object]], failures: list[str]) -> None:
    import asyncpg

    with components.postgres_server() as pg:
        launch = Launch(
            "patchbay-postgres",
            ["--dsn", f"bench={pg.dsn}", "--statement-timeout", "60", "--tool-timeout", "90"],
        )
        async with connect(launch, era="legacy") as client:
            with anyio.move_on_after(1.5):
                await client.call_tool("query", {"sql": "SELECT pg_sleep(30)"})
            began = time.monotonic()
            connection = await asyncpg.connect(pg.dsn)
            try:
                running = 1
                while time.monotonic() - began < 5:
                    running = await connection.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                        "AND state = 'active' AND pid <> pg_backend_pid()"
                    )
                    if not running:
                        break
                    await asyncio.sleep(0.2)
            finally:
                await connection.close()
            took = time.monotonic() - began
            rows.append(["postgres: client cancels pg_sleep(30) after 1.5 s", f"{took:.1f} s",
                         "still running on the database" if running else "gone from pg_stat_activity",
                         "FAIL" if running else "ok"])  # fmt: skip
            if running:
                failures.append("postgres: the cancelled query still runs on the database 5 s later")
            answer = await client.call_tool("query", {"sql": "SELECT 1 AS one"})
            if answer.is_error:
                failures.append(f"postgres: the next query failed: {text_of(answer)[:200]}")


def linked(rows: list[list[object]], failures: list[str]) -> None:
    """Run the servers' own fault tests, one pytest per server (their conftest modules share a name)."""
    by_server: dict[str, list[str]] = {}
    for node in LINKED:
        by_server.setdefault(node.split("/")[1], []).append(node)
    for server, nodes in by_server.items():
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *nodes],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
        took = f"{time.monotonic() - began:.0f} s"
        verdict = "ok" if done.returncode == 0 else "FAIL"
        rows.append([f"patchbay-{server}'s own fault tests ({len(nodes)})", took, summary[:90], verdict])
        if done.returncode != 0:
            failures.append(f"{server} fault tests failed:\n" + done.stdout[-3000:])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-linked", action="store_true")
    args = parser.parse_args()
    rows: list[list[object]] = []
    failures: list[str] = []
    for step in (upstream_faults, sigterm_drain, browser_killed, cancelled_query):
        try:
            await step(rows, failures)
        except Exception as exc:
            rows.append([step.__name__, "-", f"{type(exc).__name__}: {exc}"[:90], "FAIL"])
            failures.append(f"{step.__name__}: {exc!r}")
        print(f"  {step.__name__} done", file=sys.stderr)
    if not args.skip_linked:
        linked(rows, failures)
    table(
        "faults: what the model sees, and whether the server recovered",
        ["fault", "took", "answer", "verdict"],
        rows,
    )
    print("\nlinked fault tests:\n  " + "\n  ".join(LINKED))
    if failures:
        print("\n" + "\n".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
