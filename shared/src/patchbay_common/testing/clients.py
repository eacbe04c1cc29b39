"""Talk to a server the way real clients do: in-process, over stdio, SSE or streamable HTTP, in either era.

`connect(...)` yields an SDK `Client` already connected. A server launched as a subprocess is given as a
`Launch` (its console script and arguments); HTTP servers are started on a free port and awaited on
`/healthz`, then stopped with SIGTERM, so every test also checks a clean shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer

from patchbay_common.testing.components import free_port

__all__ = [
    "ERAS",
    "RAW_HANDSHAKE",
    "TRANSPORTS",
    "Era",
    "HttpServer",
    "Launch",
    "Transport",
    "connect",
    "http_server",
    "python_launch",
]

# initialize, initialized and tools/list in one write: what a client sends first (raw JSON-RPC over stdio)
RAW_HANDSHAKE = "".join(
    json.dumps(message) + "\n"
    for message in (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "b", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )
)

Era = Literal["legacy", "modern"]
Transport = Literal["memory", "stdio", "sse", "streamable-http"]
ERAS: tuple[Era, ...] = ("legacy", "modern")
TRANSPORTS: tuple[Transport, ...] = ("memory", "stdio", "sse", "streamable-http")

RootsCallback = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Launch:
    """How to start a server as a subprocess: console script (or module) and arguments."""

    command: str
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def argv(self, *extra: str) -> list[str]:
        """The full command line with `extra` flags appended."""
        return [self.command, *self.args, *extra]

    def environment(self) -> dict[str, str]:
        """The subprocess environment: ours, plus the launch's own variables."""
        return {**os.environ, **self.env}


@dataclass
class HttpServer:
    """A server subprocess listening on HTTP."""

    process: subprocess.Popen[bytes]
    port: int
    transport: Literal["sse", "streamable-http"]

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint for this transport."""
        return f"{self.base_url}/mcp" if self.transport == "streamable-http" else f"{self.base_url}/sse"


@contextmanager
def http_server(
    launch: Launch,
    transport: Literal["sse", "streamable-http"] = "streamable-http",
    *extra: str,
    startup_timeout: float = 30.0,
    port: int | None = None,
) -> Iterator[HttpServer]:
    """Start `launch` on a free port with an HTTP transport; wait for `/healthz`; SIGTERM it afterwards.

    Raises:
        AssertionError: the server exited or did not answer in time (its stderr is in the message), or it
            did not exit cleanly (status 0) within 10 s of SIGTERM.
    """
    port = port or free_port()
    argv = launch.argv("--transport", transport, "--port", str(port), *extra)
    # The log goes to a file, not a pipe: nobody reads a pipe while the server runs, and a full one
    # would freeze the server after a few hundred logged calls.
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        argv, env=launch.environment(), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
    )
    server = HttpServer(process, port, transport)

    def log_tail() -> str:
        log_file.seek(0)
        return log_file.read().decode(errors="replace")[-4000:]

    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{argv} exited with {process.returncode}:\n{log_tail()}")
            try:
                if httpx2.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{argv} did not answer /healthz within {startup_timeout} s")
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"{argv} did not stop within 10 s of SIGTERM") from None
        try:
            if process.returncode != 0:
                raise AssertionError(f"{argv} exited with {process.returncode}:\n{log_tail()}")
        finally:
            log_file.close()


@asynccontextmanager
async def connect(
    target: MCPServer[Any] | Launch | HttpServer,
    *,
    era: Era = "legacy",
    headers: Mapping[str, str] | None = None,
    list_roots: RootsCallback | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """A connected `Client` for an in-process server, a stdio `Launch`, or a running `HttpServer`.

    `client_options` go to `mcp.Client` as they are (e.g. `elicitation_callback`, `message_handler`).
    """
    mode = "legacy" if era == "legacy" else "auto"
    options: dict[str, Any] = {"mode": mode, **client_options}
    if list_roots is not None:
        options["list_roots_callback"] = list_roots
    server: Any
    async with AsyncExitStack() as stack:
        if isinstance(target, HttpServer) and target.transport == "streamable-http":
            client = await stack.enter_async_context(
                httpx2.AsyncClient(headers=dict(headers or {}), timeout=httpx2.Timeout(30.0, read=300.0))
            )
            server = streamable_http_client(target.url, http_client=client)
        elif isinstance(target, HttpServer):
            server = sse_client(target.url, headers=dict(headers or {}))
        elif isinstance(target, Launch):
            server = StdioServerParameters(
                command=target.command, args=list(target.args), env=target.environment(), cwd=os.getcwd()
            )
        else:
            server = target
        connected = await stack.enter_async_context(Client(server, **options))
        yield connected


def python_launch(module: str, *args: str, env: Mapping[str, str] | None = None) -> Launch:
    """A `Launch` running `python -m module` with this interpreter (no console script needed)."""
    return Launch(sys.executable, ["-m", module, *args], dict(env or {}))
