"""`--workers N`: several processes serving stateless streamable HTTP on one port, under one supervisor.

One Python process runs one tool call's Python code at a time; on a machine with several cores, N processes
answer N requests at once. Only stateless streamable HTTP can be spread this way: a handshake-era session
(and every SSE stream) lives in the memory of the process that opened it, and the next request of that
session may reach another process. `check_workers` refuses the other combinations in one line.

How the processes share the port (fork, so POSIX only; Windows refuses with what to do instead):

- Linux: each worker has its own listening socket with SO_REUSEPORT, all bound to the same address, so the
  kernel spreads new connections over them evenly (one shared socket would let the first worker to wake
  accept a whole burst of connections, and keep-alive clients then stay with it).
- macOS and the BSDs: SO_REUSEPORT there does not spread connections, so the workers inherit one listening
  socket and the kernel hands each new connection to one of the processes waiting on it.

All sockets are bound by the supervisor before any worker starts, so a port in use is one clear line and
a replacement worker takes over the socket (and the connections queued on it) of the one that died. The
supervisor builds nothing itself (each worker builds its own server, database connections included, after
the fork); it replaces a worker that dies, stops all of them on SIGTERM or SIGINT (each drains its calls in
flight) and exits 0, and exits with a worker's status when workers keep failing at start. A worker whose
supervisor disappears (SIGKILL) stops by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from patchbay_common.logs import get_logger
from patchbay_common.settings import CommonSettings

__all__ = ["check_workers", "listeners", "supervise"]

log = get_logger("patchbay.workers")

_START_SECONDS = 5.0  # a worker that exits sooner than this after its start failed to start
_MAX_QUICK_FAILURES = 3  # in a row: then the supervisor gives up and exits with the worker's status
_STOP_SECONDS = 45.0  # how long workers may drain after SIGTERM before they are killed


def check_workers(settings: CommonSettings) -> str | None:
    """Why `--workers` cannot be used with these settings (one line with what to do), or None when it can."""
    if settings.workers <= 1:
        return None
    if settings.transport != "streamable-http":
        return (
            f"--workers {settings.workers} needs --transport streamable-http --stateless "
            f"({settings.transport} serves one client from one process)"
        )
    if not settings.stateless:
        return (
            f"--workers {settings.workers} needs --stateless: a session lives in the memory of the process "
            "that opened it, and its next request may reach another one (or run one process per replica "
            "behind a load balancer with session affinity)"
        )
    if not hasattr(os, "fork"):
        return (
            f"--workers {settings.workers} is not available on {sys.platform} (it needs fork): run one "
            "server per port behind a load balancer instead"
        )
    return None


def listeners(first: socket.socket, count: int) -> list[socket.socket]:
    """One listening socket per worker: SO_REUSEPORT siblings of `first` on Linux, else `first` shared.

    `first` must have been bound with SO_REUSEPORT on Linux (`reuse_port`), so its siblings may join it.
    """
    if not sys.platform.startswith("linux"):
        return [first] * count
    host, port = first.getsockname()[:2]
    sockets = [first]
    for _ in range(count - 1):
        sibling = socket.socket(first.family, first.type, first.proto)
        reuse_port(sibling)
        if first.family == socket.AF_INET6:
            sibling.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sibling.bind((host, port))  # listened on by the worker's server once it is built
        sibling.set_inheritable(False)
        sockets.append(sibling)
    return sockets


def reuse_port(sock: socket.socket) -> None:
    """Let sibling sockets of the same user bind the same address (Linux spreads connections over them)."""
    if sys.platform.startswith("linux"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def supervise(sockets: list[socket.socket], run: Callable[[socket.socket], None]) -> int:
    """Run `run(sock)` in one forked worker per socket until SIGTERM/SIGINT; the exit status to use.

    `run` builds the server and serves on the socket it is given; it runs in the child, never here.
    """
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    workers: dict[int, tuple[int, float]] = {}  # pid -> (slot, started)
    quick_failures = 0
    status = 0
    try:
        for slot, sock in enumerate(sockets):
            pid = _start(sock, run)
            workers[pid] = (slot, time.monotonic())
        log.info("workers started", workers=len(workers), pids=sorted(workers))
        while not stop.is_set():
            pid, code = _reap()
            if pid == 0:
                stop.wait(0.1)
                continue
            if pid not in workers:  # not a worker (a helper process the server started): nothing to replace
                continue
            slot, started = workers.pop(pid)
            quick = time.monotonic() - started < _START_SECONDS
            if quick and code != 0:
                quick_failures += 1
                if quick_failures >= _MAX_QUICK_FAILURES or code == 2:  # 2: the worker said why already
                    log.error("workers keep failing at start; stopping", exit_status=code)
                    status = code or 1
                    break
            else:
                quick_failures = 0
            log.warning("worker exited; starting a new one", pid=pid, exit_status=code, slot=slot)
            new = _start(sockets[slot], run)
            workers[new] = (slot, time.monotonic())
        if received:
            log.info("signal received; stopping workers", signal=signal.Signals(received[0]).name)
        _stop_all(workers)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _start(sock: socket.socket, run: Callable[[socket.socket], None]) -> int:
    """Fork one worker serving `sock`; its pid."""
    pid = os.fork()
    if pid:
        return pid
    # The child: default signal handling until the server installs its own, and stop with the supervisor.
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _follow_parent(os.getppid())
        run(sock)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a worker must never return into the supervisor's loop
        log.exception("worker crashed")
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _follow_parent(parent: int) -> None:
    """Stop this worker (SIGTERM to itself, so it drains) when its supervisor is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="patchbay-follow-supervisor", daemon=True).start()


def _reap() -> tuple[int, int]:
    """(pid, exit status) of a worker that ended, or (0, 0) when none has."""
    try:
        pid, wait_status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return 0, 0
    if pid == 0:
        return 0, 0
    return pid, os.waitstatus_to_exitcode(wait_status)


def _stop_all(workers: dict[int, tuple[int, float]]) -> None:
    """SIGTERM every worker, wait for them to drain, SIGKILL the ones still there after `_STOP_SECONDS`."""
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_SECONDS
    while workers and time.monotonic() < deadline:
        pid, _code = _reap()
        if pid:
            workers.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
