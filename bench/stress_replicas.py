"""Two stateless replicas behind nginx: requests of one session move between replicas; one replica leaves.

Starts two replicas of a registered server (`--stateless --json-response`, its zero-configuration test
launch) and Debian's nginx in front of them, round robin, with one connection pool per upstream. Then:

1. spread: `--clients` MCP clients (the Python SDK, through nginx) make smoke calls and `tools/list`
   for `--seconds`; nginx's access log shows which replica answered each request (round robin, so one
   client's consecutive requests alternate between replicas), and every call succeeds;
2. drain: during the same kind of load one replica gets SIGTERM (it finishes what it holds and exits 0);
   nginx sends everything to the other, and no call fails;
3. rejoin: the replica starts again on its port and takes requests again.

nginx is installed on demand (`apt-get install nginx-light`) when missing, as root.

    uv run python bench/stress_replicas.py [--server sqlite] [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import table
from _stress import SPECS, ServerSpec, environments, http_server, smoke_call

from patchbay_common.testing.clients import HttpServer, connect
from patchbay_common.testing.components import free_port

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$request_method $status $upstream_addr';
    access_log {tmp}/access.log upstream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream replicas {{
        server 127.0.0.1:{a} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:{b} max_fails=1 fail_timeout=2s;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_next_upstream error timeout http_502;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    print("nginx missing: apt-get install -y --no-install-recommends nginx-light", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light"], check=True)
    return shutil.which("nginx") or "/usr/sbin/nginx"


@contextlib.contextmanager
def start_nginx(nginx: str, tmp: str, a: int, b: int) -> Iterator[HttpServer]:
    """nginx on a free port in front of replicas on ports `a` and `b`; stopped afterwards."""
    port = free_port()
    conf = Path(tmp, "nginx.conf")
    conf.write_text(NGINX_CONF.format(tmp=tmp, a=a, b=b, port=port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(tmp, "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield HttpServer(process, port, "streamable-http")
    finally:
        process.terminate()
        process.wait(10)


async def clients(front: HttpServer, spec: ServerSpec, count: int, seconds: float) -> tuple[int, list[str]]:
    tool, arguments = smoke_call(spec)
    errors: list[str] = []
    done = 0

    stop = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        try:
            async with connect(front, era="legacy") as client:
                expected = None
                while time.monotonic() < stop:
                    result = await client.call_tool(tool, arguments)
                    expected = result.is_error if expected is None else expected
                    if result.is_error != expected:
                        errors.append(f"{tool} isError changed: {result.content[:1]}")
                    await client.list_tools()
                    done += 2
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one() for _ in range(count)))
    return done, errors


def upstream_counts(log: Path, start: int) -> tuple[collections.Counter[str], int]:
    lines = log.read_text().splitlines()[start:]
    counts = collections.Counter(
        line.split()[-1].split(",")[-1].strip() for line in lines if line.startswith("POST")
    )
    return counts, len(lines) + start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="sqlite")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per phase")
    args = parser.parse_args()
    spec = next(s for s in SPECS if s.name == args.server)
    nginx = nginx_binary()
    rows, failures = [], []
    with environments([spec]) as envs, tempfile.TemporaryDirectory(prefix="patchbay-nginx-") as tmp:
        launch = spec.launch(envs[spec.name])
        stateless = ("--stateless", "--json-response")
        with contextlib.ExitStack() as stack:
            replica_a = stack.enter_context(http_server(launch, "streamable-http", *stateless))
            replica_b = stack.enter_context(http_server(launch, "streamable-http", *stateless))
            front = stack.enter_context(start_nginx(nginx, tmp, replica_a.port, replica_b.port))
            log, seen = Path(tmp, "access.log"), 0

            def record(phase: str, done: int, errors: list[str], began: float) -> None:
                nonlocal seen
                counts, seen = upstream_counts(log, seen)
                by_port = {str(r.port): counts.get(f"127.0.0.1:{r.port}", 0) for r in (replica_a, replica_b)}
                rows.append([phase, done, done / (time.monotonic() - began), len(errors), *by_port.values()])
                failures.extend(f"{phase}: {e}" for e in errors[:5])
                print(
                    f"  {phase}: {done} requests, {len(errors)} errors, per replica {by_port}",
                    file=sys.stderr,
                )

            began = time.monotonic()
            done, errors = await clients(front, spec, args.clients, args.seconds)
            record("1. spread over both", done, errors, began)
            counts = list(rows[-1][4:])
            if min(counts) < 0.2 * sum(counts):
                failures.append(f"spread: one replica took almost nothing: {counts}")

            began = time.monotonic()
            load = asyncio.create_task(clients(front, spec, args.clients, args.seconds))
            await asyncio.sleep(args.seconds / 3)
            replica_a.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(replica_a.process.wait, 15)
            done, errors = await load
            record("2. replica A drained (SIGTERM) mid-load", done, errors, began)
            if code != 0:
                failures.append(f"drain: replica A exited {code}")
            if not 0 < rows[-1][4] < rows[-1][5]:
                failures.append(
                    f"drain: expected A to serve until its SIGTERM and B the rest: {rows[-1][4:]}"
                )

            # 3. A comes back on its port.
            stack.enter_context(http_server(launch, "streamable-http", *stateless, port=replica_a.port))
            await asyncio.sleep(2.5)  # nginx's fail_timeout for A runs out
            began = time.monotonic()
            done, errors = await clients(front, spec, args.clients, args.seconds / 2)
            record("3. replica A back", done, errors, began)
            if rows[-1][4] == 0:
                failures.append("rejoin: the restarted replica took no requests")
    table(
        f"patchbay-{spec.name}: two stateless replicas behind nginx, {args.clients} clients calling "
        f"(smoke call + tools/list) for {args.seconds:g} s per phase",
        ["phase", "requests", "req/s", "errors", "replica A", "replica B"],
        rows,
    )
    if failures:
        print("\n" + "\n".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
