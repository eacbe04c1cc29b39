"""Real proxies for tests: tinyproxy (HTTP forward + CONNECT) and microsocks (SOCKS5), on loopback.

Each helper starts the real program on a free port with its log in a temporary directory, and lets a test
read what the proxy was asked for (`ForwardProxy.requests()`, `SocksProxy.targets()`), so a test can tell
that a request went through the proxy, and which name or address the proxy was given. A program that is
not installed raises `ComponentMissing` with the command that installs it (`make setup` installs both).

`origin()` is a plain HTTP server on 127.0.0.1 that records every request it answers (path, peer, headers),
and `tls_origin()` the same over TLS with a self-signed certificate for `localhost` (made with openssl).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from patchbay_common.testing.components import ComponentMissing, free_port

__all__ = [
    "ForwardProxy",
    "Origin",
    "SocksProxy",
    "http_proxy",
    "origin",
    "socks_proxy",
    "tls_origin",
]

_INSTALL = "apt-get install -y --no-install-recommends {0} (or: make setup)"


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        raise ComponentMissing(f"{name} is not installed: {_INSTALL.format(name)}")
    return found


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within 10 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class ForwardProxy:
    """A running tinyproxy: `url` (credentials included when it requires them), `log` its log file."""

    host: str
    port: int
    log: Path
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        """`http://[user:password@]127.0.0.1:PORT`."""
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"http://{auth}{self.host}:{self.port}"

    @property
    def bare_url(self) -> str:
        """The URL without credentials."""
        return f"http://{self.host}:{self.port}"

    def requests(self) -> list[str]:
        """The request lines the proxy received, oldest first: `GET http://h:p/x`, `CONNECT h:p`."""
        seen: list[str] = []
        for line in self.log.read_text(errors="replace").splitlines():
            _, found, rest = line.partition("]: Request (file descriptor ")
            if found:
                request = rest.partition("): ")[2]
                seen.append(request.rsplit(" HTTP/", 1)[0])
        return seen

    def refusals(self) -> int:
        """How many requests the proxy answered with 407 (wrong or missing credentials)."""
        return self.log.read_text(errors="replace").count("407")


@contextlib.contextmanager
def http_proxy(username: str | None = None, password: str | None = None) -> Iterator[ForwardProxy]:
    """Start tinyproxy on 127.0.0.1: plain HTTP forwarded, CONNECT to any port, optional Basic credentials."""
    binary = _binary("tinyproxy")
    with tempfile.TemporaryDirectory(prefix="pb-tinyproxy-") as tmp:
        log = Path(tmp) / "tinyproxy.log"
        log.touch()
        port = free_port()
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{log}"',
            "LogLevel Info",
            "MaxClients 64",
            "Allow 127.0.0.1",
            "DisableViaHeader No",
        ]
        if username:
            lines.append(f"BasicAuth {username} {password or ''}")
        conf = Path(tmp) / "tinyproxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "stderr.txt"
        with out.open("wb") as sink:
            proc = subprocess.Popen([binary, "-d", "-c", str(conf)], stdout=sink, stderr=sink)
        try:
            _wait_port(port, proc, "tinyproxy", out)
            yield ForwardProxy("127.0.0.1", port, log, username, password)
        finally:
            _stop(proc)


@dataclass
class SocksProxy:
    """A running microsocks: `url` is `socks5://...`; `targets()` what it was asked to connect to."""

    host: str
    port: int
    log: Path
    username: str | None = None
    password: str | None = None

    def url(self, scheme: str = "socks5") -> str:
        """`socks5://` (names resolved by the client) or `socks5h://` (by the proxy), with credentials."""
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def targets(self) -> list[str]:
        """`host:port` of every connection made, as the client named it (a name for socks5h, else an IP)."""
        found: list[str] = []
        for line in self.log.read_text(errors="replace").splitlines():
            _, hit, rest = line.partition(": connected to ")
            if hit:
                found.append(rest.strip())
        return found


@contextlib.contextmanager
def socks_proxy(username: str | None = None, password: str | None = None) -> Iterator[SocksProxy]:
    """Start microsocks (SOCKS5, CONNECT only) on 127.0.0.1, optionally with a user name and password."""
    binary = _binary("microsocks")
    with tempfile.TemporaryDirectory(prefix="pb-microsocks-") as tmp:
        log = Path(tmp) / "microsocks.log"
        port = free_port()
        cmd = [binary, "-i", "127.0.0.1", "-p", str(port)]
        if username:
            cmd += ["-u", username, "-P", password or ""]
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=sink)
        try:
            _wait_port(port, proc, "microsocks", log)
            yield SocksProxy("127.0.0.1", port, log, username, password)
        finally:
            _stop(proc)


@dataclass
class Seen:
    """One request an origin answered."""

    method: str
    path: str
    peer: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Origin:
    """A running test origin: `url` is `http(s)://127.0.0.1:PORT`; `seen` every request it answered."""

    port: int
    scheme: str
    seen: list[Seen]
    certificate: Path | None = None

    def url_for(self, host: str = "127.0.0.1", path: str = "/") -> str:
        """The URL of `path` on this origin under the name or address `host`."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def url(self) -> str:
        """`scheme://127.0.0.1:PORT`."""
        return self.url_for()

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this origin's certificate (and nothing else)."""
        assert self.certificate is not None
        context = ssl.create_default_context(cafile=str(self.certificate))
        return context


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        server: Any = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server.seen.append(
            Seen(
                self.command,
                self.path,
                self.client_address[0],
                {k.lower(): v for k, v in self.headers.items()},
            )
        )
        body = f"origin saw {self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(context: ssl.SSLContext | None, certificate: Path | None) -> Iterator[Origin]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    seen: list[Seen] = []
    server.seen = seen  # type: ignore[attr-defined]
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Origin(server.server_address[1], "https" if context else "http", seen, certificate)
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def origin() -> Iterator[Origin]:
    """A plain HTTP origin on 127.0.0.1 answering every GET/POST with `origin saw METHOD PATH`."""
    with _serve(None, None) as served:
        yield served


@contextlib.contextmanager
def tls_origin() -> Iterator[Origin]:
    """The same over TLS, with a fresh self-signed certificate for `localhost` and 127.0.0.1."""
    openssl = _binary("openssl")
    with tempfile.TemporaryDirectory(prefix="pb-origin-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        with _serve(context, cert) as served:
            yield served
