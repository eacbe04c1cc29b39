"""Two replicas behind the nginx configuration operators deploy (deploy/nginx/patchbay.conf.template).

Real components only: Debian's nginx renders and serves the template with a self-signed certificate made
here with `openssl`, in front of two patchbay-sqlite replicas writing to one SQLite file, with Redis as the
event store of the session setup. Both supported setups are covered:

- stateless (`--stateless --json-response`, the 2026-07-28 model): round robin over both replicas;
- sessions (the handshake era): nginx tags each issued `Mcp-Session-Id` with its replica and routes the
  session's later requests there.

In each, one replica is killed (SIGKILL) while clients are writing. Every client must either go on or get a
clean, retryable error (a JSON-RPC error from nginx with a retry hint, or the spec's 404 for a session that
is gone, after which the client starts a new session), never a hang or a garbled stream; and since the
writes are idempotent (`INSERT OR IGNORE` of a key) and retried, every key ends up in the table exactly once.
TLS and the per-client rate limit are checked on the same nginx. The long soak is bench/stress_replicas.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from shipping import ROOT

from patchbay_common.testing.clients import HttpServer, Launch
from patchbay_common.testing.components import free_port

TEMPLATE = ROOT / "deploy" / "nginx" / "patchbay.conf.template"
SERVER_NAME = "mcp.patchbay.test"
TOKEN = secrets.token_hex(16)
VARIABLES = (
    "PATCHBAY_LISTEN",
    "PATCHBAY_SERVER_NAME",
    "PATCHBAY_TLS_CERT",
    "PATCHBAY_TLS_KEY",
    "PATCHBAY_REPLICA_1",
    "PATCHBAY_REPLICA_2",
    "PATCHBAY_RATE",
    "PATCHBAY_BURST",
)

pytestmark = pytest.mark.anyio


# --- nginx, TLS, replicas ----------------------------------------------------------------------------------


def nginx_binary() -> str:
    """Debian's nginx (scripts/setup.sh installs it); a missing one fails with the command to install it."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found is None:
        raise AssertionError("nginx is not installed: apt-get install -y --no-install-recommends nginx")
    return found


def render(values: dict[str, str]) -> str:
    """The template with only its own `${PATCHBAY_...}` names replaced, as `envsubst 'names'` does."""
    text = TEMPLATE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(VARIABLES)
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for SERVER_NAME (and 127.0.0.1) with its key, made with openssl."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={SERVER_NAME}", "-keyout", str(key), "-out", str(cert),
            "-addext", f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Front:
    """nginx in front of two replicas: where it listens, its CA file, and its access log."""

    port: int
    cert: Path
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"https://{SERVER_NAME}:{self.port}/mcp"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def access_log(self) -> list[dict[str, str]]:
        """One dict per request: method, status, upstream (every address tried), session (as the client sent
        it), remote address, when it ended (epoch seconds) and how long it took."""
        names = ("method", "status", "upstream", "session", "remote", "ended", "took")
        lines = (self.folder / "access.log").read_text().splitlines()
        return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


NGINX_MAIN = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format patchbay "$request_method\\t$status\\t$upstream_addr\\t$http_mcp_session_id\\t$remote_addr"
                        "\\t$msec\\t$request_time";
    access_log {tmp}/access.log patchbay;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/patchbay.conf;
}}
"""


@contextlib.contextmanager
def nginx_front(replicas: tuple[int, int], *, rate: str = "1000r/s", burst: int = 1000) -> Iterator[Front]:
    """Debian's nginx with the rendered template on a free port, in front of replicas on 127.0.0.1."""
    nginx = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="patchbay-nginx-") as tmp:
        folder = Path(tmp)
        cert, key = self_signed(folder)
        port = free_port()
        values = {
            "PATCHBAY_LISTEN": f"127.0.0.1:{port}",
            "PATCHBAY_SERVER_NAME": SERVER_NAME,
            "PATCHBAY_TLS_CERT": str(cert),
            "PATCHBAY_TLS_KEY": str(key),
            "PATCHBAY_REPLICA_1": f"127.0.0.1:{replicas[0]}",
            "PATCHBAY_REPLICA_2": f"127.0.0.1:{replicas[1]}",
            "PATCHBAY_RATE": rate,
            "PATCHBAY_BURST": str(burst),
        }
        (folder / "patchbay.conf").write_text(render(values))
        (folder / "nginx.conf").write_text(NGINX_MAIN.format(tmp=tmp))
        check = subprocess.run(
            [nginx, "-t", "-q", "-c", str(folder / "nginx.conf"), "-p", tmp], capture_output=True, text=True
        )
        assert check.returncode == 0, f"nginx rejects the rendered template: {check.stderr}"
        process = subprocess.Popen(
            [nginx, "-c", str(folder / "nginx.conf"), "-p", tmp], stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), ssl_socket(port, cert):
                    break
                assert process.poll() is None, (folder / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
            yield Front(port, cert, folder, process)
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def ssl_socket(port: int, cert: Path) -> Iterator[ssl.SSLSocket]:
    import socket

    context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname=SERVER_NAME) as wrapped,
    ):
        yield wrapped


def sqlite_launch(db: Path, redis_url: str | None = None) -> Launch:
    """patchbay-sqlite allowed to write `db`, with a token and the public host name nginx forwards."""
    env = {"PATCHBAY_SQLITE_AUTH_TOKEN": TOKEN}
    args = ["--db", f"data={db}", "--access", "dml", "--allowed-host", SERVER_NAME, "--log-level", "WARNING"]
    args += ["--query-timeout", "20"]  # the slow call of the kill tests must still run when its replica dies
    if redis_url:
        args += ["--event-store", redis_url]
    return Launch(str(Path(sys.executable).parent / "patchbay-sqlite"), args, env)


def make_table(folder: Path) -> Path:
    db = folder / "data.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        conn.commit()
    return db


def keys_in(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT k FROM kv ORDER BY k")]


# --- clients ------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def client_for(
    front: Front, *, era: str = "legacy", local_address: str = "127.0.0.1"
) -> AsyncIterator[Client]:
    """An SDK client through nginx, over TLS verified against the test's certificate."""
    transport = httpx2.AsyncHTTPTransport(verify=front.ssl_context(), local_address=local_address)
    # SERVER_NAME is not in DNS: connect to 127.0.0.1, but send SERVER_NAME as Host and SNI.
    async with httpx2.AsyncClient(
        transport=_Pinned(transport, front.port),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=httpx2.Timeout(10.0, read=20.0),
    ) as http:
        server = streamable_http_client(front.url, http_client=http)
        async with Client(server, mode="legacy" if era == "legacy" else "auto") as client:
            yield client


class _Pinned(httpx2.AsyncBaseTransport):
    """Send requests for SERVER_NAME to 127.0.0.1 (keeping the name for Host, SNI and verification)."""

    def __init__(self, inner: httpx2.AsyncHTTPTransport, port: int) -> None:
        self.inner, self.port = inner, port

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions = {**request.extensions, "sni_hostname": SERVER_NAME}
        request.url = request.url.copy_with(host="127.0.0.1")
        request.headers["Host"] = f"{SERVER_NAME}:{self.port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Outcome:
    """What the writers saw: keys written, and each error they met, by kind."""

    written: set[str] = field(default_factory=set)
    retried: list[str] = field(default_factory=list)  # clean, retryable errors (then retried)
    new_sessions: int = 0  # sessions that were gone (404) and started again
    unclean: list[str] = field(default_factory=list)  # anything else: a hang, a garbled stream, a bad result


RETRYABLE = ("retry in a second",)  # nginx's 503/429 JSON-RPC error bodies
# The spec's 404 for a session that is gone (the client starts a new one), the SDK giving up resuming a
# stream whose replica is gone (it tried GET with Last-Event-ID and got that 404), or a stream cut before
# its first event, which leaves no event id to resume from (a race with the kill: seen once in CI).
SESSION_GONE = (
    "Session terminated",
    "Session not found",
    "reconnection attempts were exhausted",
    "SSE stream ended without a response",
)


def describe(exc: BaseException) -> str:
    """What went wrong, as one line: an exception group (the SDK's task groups) by the errors it holds."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


async def writer(front: Front, era: str, keys: list[str], outcome: Outcome, *, stop_at: float) -> None:
    """Write each key once (INSERT OR IGNORE: safe to repeat), retrying on clean errors; stop at `stop_at`."""
    pending = list(keys)
    while pending and time.monotonic() < stop_at:
        try:
            async with client_for(front, era=era) as client:
                while pending and time.monotonic() < stop_at:
                    key = pending[0]
                    try:
                        with _deadline(15):
                            result = await client.call_tool(
                                "write_query",
                                {
                                    "query": "INSERT OR IGNORE INTO kv (k, v) VALUES (?, ?)",
                                    "params": [key, era],
                                },
                            )
                    except Exception as exc:
                        text = describe(exc)
                        if any(s in text for s in SESSION_GONE):
                            outcome.new_sessions += 1
                            break  # a new session, then the same key again
                        if any(s in text for s in RETRYABLE):
                            outcome.retried.append(text)
                            await asyncio.sleep(0.2)
                            continue
                        outcome.unclean.append(text)
                        await asyncio.sleep(0.2)
                        break
                    body = result.content[0].text if result.content else ""  # type: ignore[union-attr]
                    if result.is_error or not body.startswith("OK:"):
                        outcome.unclean.append(f"{key}: {body[:200]}")
                        await asyncio.sleep(0.2)
                        continue
                    outcome.written.add(pending.pop(0))
        except Exception as exc:
            text = describe(exc)
            clean = any(s in text for s in (*RETRYABLE, *SESSION_GONE))
            (outcome.retried if clean else outcome.unclean).append("open: " + text)
            await asyncio.sleep(0.2)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    import anyio

    with anyio.fail_after(seconds):
        yield


# A read that keeps its replica busy for seconds (a read: it holds no write lock the other replica waits for).
SLOW_READ = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT max(x) FROM c"
)
STARTUP = 120.0  # seconds a replica may take to answer /healthz on a loaded 2-core machine
MODES = {
    "stateless": ("--stateless", "--json-response"),  # as deploy/k8s runs it
    "sessions": (),  # the handshake era's sessions, SSE answers, Redis event store
}


def cpu_ticks(pid: int) -> int:
    """CPU time a process has used, in clock ticks (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def busy_replica(pair: tuple[HttpServer, HttpServer], start: list[int]) -> int:
    """The index of the replica that has used a third of a second of CPU more than the other since `start`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        used = [cpu_ticks(r.process.pid) - s for r, s in zip(pair, start, strict=True)]
        if abs(used[0] - used[1]) >= os.sysconf("SC_CLK_TCK") // 3:
            return 0 if used[0] > used[1] else 1
    raise AssertionError("neither replica started the slow call within 30 s")


@dataclass
class Replica(HttpServer):
    """A replica subprocess with its log file (read when it does not stop cleanly)."""

    log: Path = Path()
    killed: bool = False

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory kill or a lost node would end it."""
        self.killed = True
        self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def replica(
    launch: Launch, extra: tuple[str, ...], folder: Path, name: str, port: int | None = None
) -> Iterator[Replica]:
    """One replica on `port` (default: a free one), awaited on /healthz; SIGTERM afterwards must end it
    with status 0."""
    port = port or free_port()
    log = folder / f"{name}-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            launch.argv("--transport", "streamable-http", "--port", str(port), *extra),
            env=launch.environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Replica(process, port, "streamable-http", log)
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            assert process.poll() is None, f"replica {name} exited: {log.read_text()[-3000:]}"
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{running.base_url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"replica {name} did not answer /healthz in {STARTUP} s"
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(  # noqa: B904 - the timeout itself says nothing more
                    f"replica {name} did not stop within 30 s of SIGTERM: {log.read_text()[-3000:]}"
                )
    if not running.killed:
        assert process.returncode == 0, (
            f"replica {name} exited {process.returncode}: {log.read_text()[-3000:]}"
        )


@contextlib.contextmanager
def replica_pair(db: Path, mode: str, redis_url: str) -> Iterator[tuple[Replica, Replica]]:
    launch = sqlite_launch(db, redis_url if mode == "sessions" else None)
    with (
        replica(launch, MODES[mode], db.parent, "r1") as one,
        replica(launch, MODES[mode], db.parent, "r2") as two,
    ):
        yield one, two


async def slow_call(client: Client) -> str:
    """Start SLOW_READ and return how it ended, as the model would be told."""
    try:
        with _deadline(20):
            result = await client.call_tool("read_query", {"query": SLOW_READ})
    except TimeoutError:
        return "HANG: no answer within 20 s"
    except Exception as exc:
        return describe(exc)
    return f"result: {result.content[0].text if result.content else ''}"  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_replica_killed_mid_load_loses_nothing(mode: str, redis_instance: Any) -> None:
    """SIGKILL one of two replicas while clients write through nginx: a call it was working on ends at once
    with a clean, retryable error; the clients on it retry (stateless) or start a new session (sessions);
    the clients on the other replica carry on; every key is written exactly once."""
    with tempfile.TemporaryDirectory(prefix="patchbay-replicas-") as tmp:
        db = make_table(Path(tmp))
        with (
            replica_pair(db, mode, str(redis_instance.url)) as pair,
            nginx_front((pair[0].port, pair[1].port)) as front,
        ):
            async with client_for(front, era="legacy") as slow_client:
                await slow_client.list_tools()
                # The slow call's replica is the one to kill. Sessions: nginx's tag on the session id names
                # it. Stateless: it is the replica whose CPU time climbs (nothing else runs now).
                await asyncio.sleep(0.3)  # nginx logs a request when its answer is complete
                session = [e["session"] for e in front.access_log() if e["method"] == "POST"][-1]
                ticks = [cpu_ticks(r.process.pid) for r in pair]
                slow = asyncio.create_task(slow_call(slow_client))
                if mode == "sessions":
                    victim_index = 0 if session.startswith("r1.") else 1
                    await asyncio.sleep(1.0)
                else:
                    victim_index = await busy_replica(pair, ticks)
                victim, survivor = pair[victim_index], pair[1 - victim_index]
                assert not slow.done(), f"the slow call ended before the kill: {slow.result()}"

                outcome = Outcome()
                keys = [[f"{mode}-{c}-{i:02d}" for i in range(8)] for c in range(6)]
                stop_at = time.monotonic() + 60
                writers = [
                    asyncio.create_task(
                        writer(front, ("legacy", "legacy", "modern")[c % 3], k, outcome, stop_at=stop_at)
                    )
                    for c, k in enumerate(keys)
                ]
                while len(outcome.written) < 4 and not all(w.done() for w in writers):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                served_before = {e["upstream"] for e in front.access_log() if e["method"] == "POST"}
                log_mark = len(front.access_log())
                killed_at, killed_wall = time.monotonic(), time.time()
                victim.kill()
                ended = await slow
                slow_took = time.monotonic() - killed_at
                await asyncio.gather(*writers)
            victim.process.returncode = (
                0  # killed on purpose: http_server's clean-exit check is for the other
            )

            assert (
                f"127.0.0.1:{victim.port}" in served_before and f"127.0.0.1:{survivor.port}" in served_before
            )
            # The call the killed replica was working on: a clean, retryable error, at once.
            clean = RETRYABLE if mode == "stateless" else SESSION_GONE
            assert any(s in ended for s in clean), (
                ended,
                victim.port,
                survivor.port,
                [e for e in front.access_log() if "," in e["upstream"] or e["status"] != "200"],
            )
            assert slow_took < 10, f"the interrupted call took {slow_took:.1f} s to end"
            # Nothing unclean, nothing lost, nothing twice.
            assert not outcome.unclean, outcome.unclean
            expected = sorted(k for ks in keys for k in ks)
            assert sorted(outcome.written) == expected
            assert keys_in(db) == expected
            # Requests that started after the kill went to the survivor (or got nginx's clean 503).
            after = [
                e for e in front.access_log() if float(e["ended"]) - float(e["took"]) > killed_wall + 0.01
            ]
            assert after and all(
                e["upstream"].endswith(f"127.0.0.1:{survivor.port}") or e["status"] == "503" for e in after
            ), f"after the kill only the surviving replica answers: {after}"
            if mode == "sessions":
                tag = ("r1.", "r2.")[victim_index]
                on_victim = {
                    e["session"] for e in front.access_log()[:log_mark] if e["session"].startswith(tag)
                } - {session}
                if on_victim:  # writers' sessions the round robin put on the killed replica
                    assert outcome.new_sessions >= 1, "the clients of the killed replica start new sessions"
                kept = {e["session"] for e in front.access_log()[:log_mark] if e["session"].startswith("r")}
                moved = {e["session"] for e in after if e["session"].startswith("r")}
                assert kept & moved, "sessions on the surviving replica carry on after the kill"
                # The replicas keep their sessions' events in the shared Redis event store.
                import redis

                store = redis.Redis.from_url(str(redis_instance.url))
                try:
                    assert store.keys("patchbay:events:*"), "no event reached the Redis event store"
                finally:
                    store.close()


def _raw_client(front: Front, local_address: str, *, verify: bool | ssl.SSLContext = True) -> httpx2.Client:
    context = front.ssl_context() if verify is True else verify
    inner = httpx2.HTTPTransport(verify=context, local_address=local_address)

    class Pinned(httpx2.BaseTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            request.extensions = {**request.extensions, "sni_hostname": SERVER_NAME}
            request.url = request.url.copy_with(host="127.0.0.1")
            request.headers["Host"] = f"{SERVER_NAME}:{front.port}"
            return inner.handle_request(request)

        def close(self) -> None:
            inner.close()

    return httpx2.Client(transport=Pinned(), timeout=10)


LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


async def test_tls_and_the_per_client_rate_limit(redis_instance: Any) -> None:
    """nginx serves TLS only, with the operator's certificate; a client over its rate gets 429 with a retry
    hint (as a JSON-RPC error its SDK shows), while another client address is not slowed down."""
    with tempfile.TemporaryDirectory(prefix="patchbay-replicas-") as tmp:
        db = make_table(Path(tmp))
        with (
            replica_pair(db, "stateless", str(redis_instance.url)) as pair,
            nginx_front((pair[0].port, pair[1].port), rate="2r/s", burst=4) as front,
        ):
            base = f"https://{SERVER_NAME}:{front.port}"
            # TLS only: plain HTTP on the port is refused, and the certificate is the one given.
            plain = httpx2.post(f"http://127.0.0.1:{front.port}/mcp", json=LIST_TOOLS, headers=MCP_HEADERS)
            assert plain.status_code == 400 and "plain HTTP request was sent to HTTPS port" in plain.text
            untrusting = _raw_client(front, "127.0.0.1", verify=ssl.create_default_context())
            with untrusting, pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusting.get(f"{base}/healthz")
            with _raw_client(front, "127.0.0.1") as client:
                health = client.get(f"{base}/healthz")
                assert health.status_code == 200 and health.json()["status"] == "ok"
                assert health.extensions["network_stream"].get_extra_info("ssl_object").version() in (
                    "TLSv1.2",
                    "TLSv1.3",
                )

            # One client address sends 20 requests at once: the burst passes, the rest get 429.
            with _raw_client(front, "127.0.0.2") as greedy, _raw_client(front, "127.0.0.3") as other:
                answers = [
                    greedy.post(f"{base}/mcp", json=LIST_TOOLS, headers=MCP_HEADERS) for _ in range(20)
                ]
                codes = [a.status_code for a in answers]
                assert set(codes) == {200, 429} and codes.count(200) <= 4 + 2, codes
                limited = next(a for a in answers if a.status_code == 429)
                assert limited.headers["Retry-After"] == "1"
                error = limited.json()["error"]
                assert "too many requests" in error["message"] and error["data"] == {"retryAfter": 1}
                # Another client address is not affected.
                fine = other.post(f"{base}/mcp", json=LIST_TOOLS, headers=MCP_HEADERS)
                assert fine.status_code == 200 and fine.json()["result"]["tools"]
            # The SDK client of a limited address sees nginx's message, retry hint included.
            with _raw_client(front, "127.0.0.4") as burner:
                for _ in range(10):
                    burner.post(f"{base}/mcp", json=LIST_TOOLS, headers=MCP_HEADERS)
            with pytest.raises(Exception) as raised:
                async with client_for(front, era="modern", local_address="127.0.0.4") as client:
                    for _ in range(10):
                        await client.list_tools()
            assert "too many requests from this client; retry in a second" in _messages(raised.value)
            # The limit is per client and refills: after a second, that address is served again.
            await asyncio.sleep(1.5)
            async with client_for(front, era="modern", local_address="127.0.0.4") as client:
                assert (await client.list_tools()).tools


def _messages(exc: BaseException) -> str:
    """Every message in an exception and the groups it is wrapped in."""
    if isinstance(exc, BaseExceptionGroup):
        return " | ".join(_messages(e) for e in exc.exceptions)
    return str(exc)
