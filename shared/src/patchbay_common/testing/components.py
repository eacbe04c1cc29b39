"""Real components for tests: Redis, PostgreSQL and Chromium, on free loopback ports, torn down afterwards.

Tests run against the real thing, never a fake (fakeredis has no EVAL/INFO/JSON.*, and cannot be shared with a
server running in a subprocess). Each helper is a plain function or context manager with no pytest import, so
conftest files wrap them in fixtures of whatever scope they need:

    @pytest.fixture(scope="session")
    def redis() -> Iterator[RedisInstance]:
        with redis_server() as instance:
            yield instance

A component that is not installed raises `ComponentMissing` with the command that installs it (`make setup`
installs all of them); tests are never skipped for it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

__all__ = [
    "CHROMIUM_ARGS",
    "ComponentMissing",
    "PostgresInstance",
    "PostgresReplica",
    "RedisClusterInstance",
    "RedisInstance",
    "chromium_executable",
    "free_port",
    "postgres_replica",
    "postgres_server",
    "redis_cluster",
    "redis_server",
]

CHROMIUM_ARGS: Final[list[str]] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
"""Flags for launching Chromium headless as root in a container, without it calling home."""

POSTGRES_DSN_ENV: Final = "PATCHBAY_TEST_POSTGRES_DSN"
CHROMIUM_ENV: Final = "PATCHBAY_CHROMIUM"

# Where the Debian packages put things. Module attributes so tests can point them at an empty directory.
_POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_CHROMIUM_DEFAULT = "/usr/bin/chromium"

_STARTUP_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_START_ATTEMPTS = 3  # a free port can be taken between free_port() and the server's bind: try another one


class ComponentMissing(RuntimeError):
    """A component the tests need is not installed; the message says how to install it."""


@dataclass(frozen=True, slots=True)
class RedisInstance:
    """A running redis-server on 127.0.0.1.

    Attributes:
        url: `redis://127.0.0.1:PORT/0`, for redis-py and the redis server's `--url`.
        port: the TCP port it listens on.
        dir: its private working directory (removed on exit).
    """

    url: str
    port: int
    dir: Path


@dataclass(frozen=True, slots=True)
class PostgresInstance:
    """A PostgreSQL server to test against: started here, or the one named by `PATCHBAY_TEST_POSTGRES_DSN`.

    Attributes:
        dsn: a libpq URL (`postgresql://postgres@127.0.0.1:PORT/postgres`) for asyncpg, psql, the server.
        host: the host in the DSN.
        port: the port in the DSN.
        user: the user in the DSN (`postgres`, trust authentication, when started here).
        dbname: the database in the DSN.
    """

    dsn: str
    host: str
    port: int
    user: str
    dbname: str


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now, so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------------------------- Redis


def _redis_ping(port: int) -> bool:
    """Send PING in raw RESP and report whether +PONG came back (no redis-py needed to start Redis)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child process, and kill it if it has not exited within the stop timeout."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    """Return the last lines of a log file, or a note that there is none, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _start_redis(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start redis-server on a free port and wait for PING, trying another port if the first is taken."""
    return _start_redis_with(binary, workdir, [])


def _start_redis_with(binary: str, workdir: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """`_start_redis` with more redis-server arguments (a cluster node's)."""
    log_path = workdir / "redis.log"
    for _attempt in range(_START_ATTEMPTS):
        port = free_port()
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(workdir), *extra]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if _redis_ping(port):
                return proc, port
            time.sleep(0.01)
        _stop_process(proc)
        if "already in use" not in _tail(log_path):
            break
    raise RuntimeError(
        f"redis-server did not answer PING within {_STARTUP_TIMEOUT:.0f} s:\n{_tail(log_path)}"
    )


def _stop_redis(proc: subprocess.Popen[bytes], port: int) -> None:
    """Stop Redis with SHUTDOWN NOSAVE, which is immediate (SIGTERM waits for the next 100 ms tick)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
        sock.recv(64)  # the connection closes when the server exits
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)
    _stop_process(proc)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisInstance]:
    """Run a throwaway redis-server (no persistence, loopback only) for the duration of the block.

    Raises:
        ComponentMissing: redis-server is not on PATH.
        RuntimeError: it did not start (the message holds the end of its log).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise ComponentMissing(
            "redis-server is not installed: run `make setup` (apt-get install -y redis-server)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="patchbay-redis-"))
    try:
        proc, port = _start_redis(binary, workdir)
        try:
            yield RedisInstance(url=f"redis://127.0.0.1:{port}/0", port=port, dir=workdir)
        finally:
            _stop_redis(proc, port)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class RedisClusterInstance:
    """A running Redis Cluster of primaries only (no replicas) on 127.0.0.1.

    Attributes:
        url: `redis://127.0.0.1:PORT/0` of the first node (a cluster client finds the others from it).
        ports: the TCP port of every node, in start order.
        dir: the working directory holding one directory per node (removed on exit).
    """

    url: str
    ports: tuple[int, ...]
    dir: Path


def _cluster_ok(port: int) -> bool:
    """Whether the node on `port` answers `cluster_state:ok` to CLUSTER INFO (raw RESP)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
            return b"cluster_state:ok" in sock.recv(4096)
    except OSError:
        return False


@contextlib.contextmanager
def redis_cluster(primaries: int = 3, *extra: str) -> Iterator[RedisClusterInstance]:
    """Run a throwaway Redis Cluster of `primaries` primaries (no replicas, no persistence, loopback).

    Each node is `redis-server --cluster-enabled yes` with its own config file and directory; `redis-cli
    --cluster create ... --cluster-replicas 0 --cluster-yes` spreads the 16384 slots over them, and the block
    starts once every node reports `cluster_state:ok`. `extra` arguments go to every redis-server (e.g.
    `"--notify-keyspace-events", "KA"`).

    Raises:
        ComponentMissing: redis-server or redis-cli is not on PATH.
        RuntimeError: a node did not start, or the cluster did not form (the message holds the output).
    """
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise ComponentMissing(
            "redis-server and redis-cli are not installed: run `make setup` (apt-get install -y redis-server)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="patchbay-redis-cluster-"))
    nodes: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for index in range(primaries):
            node_dir = workdir / f"node{index}"
            node_dir.mkdir()
            args = ["--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf")]
            # An explicit bus port: the default (port + 10000) does not exist for ports above 55535.
            args += ["--cluster-port", str(free_port()), "--cluster-node-timeout", "5000", *extra]
            nodes.append(_start_redis_with(binary, node_dir, args))
        ports = tuple(port for _, port in nodes)
        create = [cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports)]
        create += ["--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not all(_cluster_ok(port) for port in ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster did not reach cluster_state:ok:\n{done.stdout}")
            time.sleep(0.05)
        yield RedisClusterInstance(url=f"redis://127.0.0.1:{ports[0]}/0", ports=ports, dir=workdir)
    finally:
        for proc, port in nodes:
            _stop_redis(proc, port)
        shutil.rmtree(workdir, ignore_errors=True)


# -------------------------------------------------------------------------------------------- PostgreSQL


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin, so that 16 comes after 9.6."""
    version = Path(bindir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _postgres_bindir() -> Path:
    """Find the directory holding initdb and pg_ctl: the highest Debian version, else PATH."""
    candidates = [d for d in glob.glob(_POSTGRES_BIN_GLOB) if os.access(Path(d) / "initdb", os.X_OK)]
    if candidates:
        return Path(max(candidates, key=_version_key))
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    raise ComponentMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed: run `make setup` "
        "(apt-get install -y postgresql-15), or point PATCHBAY_TEST_POSTGRES_DSN at a running server"
    )


def _parse_dsn(dsn: str) -> PostgresInstance:
    """Describe an existing server from its DSN, a `postgresql://` URL or `key=value` pairs."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        return PostgresInstance(
            dsn=dsn,
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            dbname=unquote(parts.path.lstrip("/")) or unquote(parts.username or "postgres"),
        )
    fields = dict(item.split("=", 1) for item in shlex.split(dsn) if "=" in item)
    user = fields.get("user", "postgres")
    return PostgresInstance(
        dsn=dsn,
        host=fields.get("host", "localhost"),
        port=int(fields.get("port", "5432")),
        user=user,
        dbname=fields.get("dbname", user),
    )


def _postgres_owner(base: Path) -> pwd.struct_passwd | None:
    """As root, hand `base` to the `postgres` user and return it (initdb and pg_ctl refuse root); else None.

    Raises:
        ComponentMissing: running as root and there is no `postgres` user to run them as.
    """
    if os.geteuid() != 0:
        return None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise ComponentMissing(
            "no `postgres` user to run PostgreSQL as (initdb refuses root): run `make setup` "
            "(apt-get install -y postgresql-15 creates it)"
        ) from None
    os.chown(base, owner.pw_uid, owner.pw_gid)
    return owner


def _run(cmd: list[str], base: Path, owner: pwd.struct_passwd | None, log: Path | None = None) -> None:
    """Run a PostgreSQL tool in `base` (as `owner`), raising RuntimeError with its output and the server log.

    The working directory matters: run as `postgres` from a cwd it cannot read (/root), initdb fails.
    """
    result = subprocess.run(
        cmd,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=2 * _STARTUP_TIMEOUT,
        check=False,
        user=None if owner is None else owner.pw_uid,
        group=None if owner is None else owner.pw_gid,
        extra_groups=None if owner is None else [],
    )
    if result.returncode != 0:
        detail = f"{result.stdout}{result.stderr}".strip()
        if log is not None:
            detail += f"\n--- server log ---\n{_tail(log)}"
        raise RuntimeError(f"{Path(cmd[0]).name} {cmd[-1]} failed (exit {result.returncode}):\n{detail}")


def _stop_postgres(pg_ctl: str, data: Path, base: Path, owner: pwd.struct_passwd | None) -> None:
    """Stop the cluster at once (`-m immediate`: its data is thrown away); a stopped one is no error."""
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], base, owner)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresInstance]:
    """Run a throwaway PostgreSQL cluster (trust auth, fsync off, loopback only) for the block's duration.

    When `PATCHBAY_TEST_POSTGRES_DSN` is set, that server is used instead and nothing is started.

    Raises:
        ComponentMissing: the server binaries (or, as root, the `postgres` user) are missing.
        RuntimeError: initdb or pg_ctl failed (the message holds their output and the server log).
    """
    external = os.environ.get(POSTGRES_DSN_ENV)
    if external:
        yield _parse_dsn(external)
        return
    bindir = _postgres_bindir()
    # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, and the postgres user must reach its data dir.
    base = Path(tempfile.mkdtemp(prefix="patchbay-pg-"))
    try:
        owner = _postgres_owner(base)
        data, log = base / "data", base / "server.log"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        _run([*initdb, "--locale=C", "--no-sync"], base, owner)
        pg_ctl = str(bindir / "pg_ctl")
        for attempt in range(_START_ATTEMPTS):
            port = free_port()
            options = f"-p {port} -k {shlex.quote(str(base))} -c listen_addresses=127.0.0.1 -c fsync=off"
            timeout = str(int(_STARTUP_TIMEOUT))
            try:
                _run(
                    [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", timeout, "start"],
                    base,
                    owner,
                    log,
                )
                break
            except (RuntimeError, subprocess.TimeoutExpired):
                _stop_postgres(pg_ctl, data, base, owner)  # a postmaster that started too slowly
                if attempt + 1 == _START_ATTEMPTS or "already in use" not in _tail(log):
                    raise
        try:
            yield PostgresInstance(
                dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres",
                host="127.0.0.1",
                port=port,
                user="postgres",
                dbname="postgres",
            )
        finally:
            _stop_postgres(pg_ctl, data, base, owner)
    finally:
        shutil.rmtree(base, ignore_errors=True)


class PostgresReplica:
    """A streaming hot-standby replica of a `PostgresInstance`, which a test may stop and start again.

    Attributes:
        dsn: a libpq URL of the replica (`postgresql://postgres@127.0.0.1:PORT/postgres`).
        port: the TCP port it listens on.
        data: its data directory (made by `pg_basebackup -R`).
    """

    def __init__(self, dsn: str, port: int, data: Path, start_cmd: list[str], stop_cmd: list[str], run: Any):
        self.dsn, self.port, self.data = dsn, port, data
        self._start, self._stop, self._run = start_cmd, stop_cmd, run

    def stop(self) -> None:
        """Stop the replica at once (`pg_ctl stop -m immediate`); a stopped one is no error."""
        if (self.data / "postmaster.pid").exists():
            self._run(self._stop)

    def start(self) -> None:
        """Start it again on the same port and wait until it accepts connections."""
        self._run(self._start)


@contextlib.contextmanager
def postgres_replica(primary: PostgresInstance) -> Iterator[PostgresReplica]:
    """Run a streaming replica of `primary` (`pg_basebackup -R`, then `pg_ctl start`) for the block.

    The primary must allow replication connections from 127.0.0.1 for its user: `postgres_server()`'s does
    (initdb's defaults: wal_level=replica, max_wal_senders=10, a `host replication all 127.0.0.1/32 trust`
    line). The block starts once the replica accepts connections and is in recovery.

    Raises:
        ComponentMissing: the server binaries (or, as root, the `postgres` user) are missing.
        RuntimeError: pg_basebackup or pg_ctl failed (the message holds their output and the server log).
    """
    bindir = _postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="patchbay-pg-replica-"))
    try:
        owner = _postgres_owner(base)
        data, log = base / "data", base / "server.log"
        backup = [str(bindir / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port)]
        backup += ["-U", primary.user, "-D", str(data), "-R", "-X", "stream", "--no-sync", "-c", "fast"]
        _run(backup, base, owner)
        pg_ctl = str(bindir / "pg_ctl")
        port = free_port()
        options = f"-p {port} -k {shlex.quote(str(base))} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "20", "start"]
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]

        def run(cmd: list[str]) -> None:
            _run(cmd, base, owner, log)

        run(start)
        try:
            yield PostgresReplica(
                f"postgresql://{primary.user}@127.0.0.1:{port}/{primary.dbname}", port, data, start, stop, run
            )
        finally:
            _stop_postgres(pg_ctl, data, base, owner)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- Chromium


def chromium_executable() -> str:
    """Return the Chromium binary to launch (Playwright cannot download its own browser on these machines).

    `PATCHBAY_CHROMIUM` wins; then /usr/bin/chromium; then `chromium` or `chromium-browser` on PATH.

    Raises:
        ComponentMissing: no Chromium found, or `PATCHBAY_CHROMIUM` names no executable file.
    """
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise ComponentMissing(f"{CHROMIUM_ENV}={override} is not an executable file")
    if os.path.isfile(_CHROMIUM_DEFAULT) and os.access(_CHROMIUM_DEFAULT, os.X_OK):
        return _CHROMIUM_DEFAULT
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise ComponentMissing(
        "chromium is not installed: run `make setup` (apt-get install -y --no-install-recommends chromium), "
        f"or set {CHROMIUM_ENV} to a Chromium binary"
    )
