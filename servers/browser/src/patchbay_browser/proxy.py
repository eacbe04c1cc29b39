"""A local forward proxy (HTTP and CONNECT) for every browser request, checked by the egress guard.

Chromium resolves host names itself, so checking a URL before handing it to the browser leaves a gap: the
name can resolve to a public address for the check and to 127.0.0.1 when Chromium connects (DNS
rebinding), and sub-requests, redirects and WebSocket upgrades would never be checked at all. Launched with
`--proxy-server` pointing here (loopback included), Chromium never opens a connection of its own: this proxy
resolves every host once through `EgressPolicy.resolve`, refuses blocked addresses, and dials exactly the
address it checked.

Plain HTTP requests are forwarded one per connection (`Connection: close` both ways), so a client cannot
slip a second request for another host onto a connection opened for the first. CONNECT tunnels are checked
once and then piped as bytes (TLS inside is the browser's business). A refusal answers 403 with the
reason in the body and an `X-Patchbay-Egress: denied` header, and is remembered for the tools to report.

Behind the operator's own proxy (`--proxy-url`, HTTPS_PROXY/HTTP_PROXY/ALL_PROXY with NO_PROXY, carried by
the policy), a checked destination is reached through it: CONNECT tunnels through an HTTP(S) proxy's
CONNECT or a SOCKS5 tunnel (socks5 sends the address checked here, socks5h the name), and plain HTTP
requests are handed to an HTTP(S) proxy in absolute form (many proxies refuse CONNECT to port 80).
Chromium itself only ever talks to this proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from patchbay_common.egress import EgressDenied, EgressPolicy, ProxyRoute, open_proxy_connection, open_tunnel
from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger

__all__ = ["DENIED_HEADER", "Denial", "EgressProxy"]

log = get_logger("patchbay.browser.proxy")

DENIED_HEADER = "X-Patchbay-Egress"
_MAX_HEAD = 64 * 1024
_CONNECT_TIMEOUT = 10.0
_IDLE_TIMEOUT = 120.0
_HOP_BY_HOP = {
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"proxy-authorization",
    b"proxy-authenticate",
    b"te",
    b"trailer",
    b"upgrade",
}


@dataclass(frozen=True)
class Denial:
    """One connection the egress guard refused: when, where to, and why (the text a model reads)."""

    at: float
    target: str
    reason: str


class _BadRequest(Exception):
    pass


class EgressProxy:
    """An HTTP/CONNECT forward proxy on 127.0.0.1 that dials only what an `EgressPolicy` allows."""

    def __init__(self, policy: EgressPolicy, *, on_denied: Callable[[Denial], None] | None = None) -> None:
        self.policy = policy
        self.denials: deque[Denial] = deque(maxlen=200)
        self._on_denied = on_denied
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, for Chromium's `--proxy-server`."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        log.debug("egress proxy listening", port=self.port)

    async def close(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def denied_since(self, since: float) -> list[Denial]:
        """The refusals recorded at or after `since` (a `time.monotonic()` value)."""
        return [d for d in self.denials if d.at >= since]

    # --- one client connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
            pass
        except _BadRequest as exc:
            await _answer(writer, 400, "Bad Request", str(exc))
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE_TIMEOUT)
        request_line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ")
        except ValueError:
            raise _BadRequest("malformed request line") from None
        if method.upper() == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, version, rest, reader, writer)

    def _route(self, scheme: str, host: str, port: int) -> ProxyRoute | None:
        """The operator's proxy for this destination, if any (never chosen by a page or a model)."""
        proxies = self.policy.proxies
        return proxies.route_for(scheme, host, port) if proxies is not None else None

    async def _dial(
        self, host: str, port: int, shown: str, writer: asyncio.StreamWriter, *, scheme: str = "https"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Resolve and check `host`, then connect to a checked address; answer 403/502 and return None.

        Through the operator's proxy the connection is a tunnel to `host:port` (for `scheme` "http" with an
        HTTP(S) proxy, `_forward` talks to the proxy itself instead).
        """
        try:
            addresses = await self.policy.resolve(host, port)
        except EgressDenied as exc:
            denial = Denial(time.monotonic(), shown, str(exc))
            self.denials.append(denial)
            if self._on_denied is not None:
                self._on_denied(denial)
            log.info("egress refused", target=shown, reason=str(exc))
            await _answer(writer, 403, "Forbidden", f"patchbay egress guard: {exc}", denied=True)
            return None
        except UserError as exc:  # the name does not resolve: not a refusal, just nothing there
            log.debug("proxy target unresolvable", target=shown)
            await _answer(writer, 502, "Bad Gateway", str(exc))
            return None
        route = self._route(scheme, host, port)
        if route is not None:
            try:
                if scheme == "http" and route.scheme in ("http", "https"):
                    return await asyncio.wait_for(open_proxy_connection(route), _CONNECT_TIMEOUT)
                return await open_tunnel(route, host, port, addresses, within=_CONNECT_TIMEOUT)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                reason = str(exc) or type(exc).__name__
                await _answer(
                    writer, 502, "Bad Gateway", f"could not connect to {shown} through the proxy: {reason}"
                )
                return None
        last: OSError | None = None
        for address in addresses:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(str(address), port, limit=_MAX_HEAD), _CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                last = exc if isinstance(exc, OSError) else OSError(str(exc))
        await _answer(writer, 502, "Bad Gateway", f"could not connect to {shown}: {last}")
        return None

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = _split_authority(target, 443)
        upstream = await self._dial(host, port, target, writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        rest: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise _BadRequest(f"only absolute http:// URLs are proxied, not {target[:100]!r}")
        port = parts.port or 80
        headers, length, chunked = _request_headers(rest)
        if chunked:
            raise _BadRequest("chunked request bodies are not supported by this proxy")
        upstream = await self._dial(parts.hostname, port, f"{parts.hostname}:{port}", writer, scheme="http")
        if upstream is None:
            return
        up_reader, up_writer = upstream
        route = self._route("http", parts.hostname, port)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            if route is not None and route.scheme in ("http", "https"):  # the operator's forward proxy
                host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                path = f"http://{host}:{port}{path}"
                auth = route.basic_auth()
                if auth is not None:
                    headers += f"Proxy-Authorization: {auth}\r\n".encode("latin-1")
            up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1"))
            up_writer.write(headers + b"Connection: close\r\n\r\n")
            remaining = length
            while remaining > 0:
                chunk = await asyncio.wait_for(reader.read(min(remaining, 1 << 16)), _IDLE_TIMEOUT)
                if not chunk:
                    return
                up_writer.write(chunk)
                remaining -= len(chunk)
            await up_writer.drain()
            response_head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), _IDLE_TIMEOUT)
            writer.write(_close_response_head(response_head))
            await _copy(up_reader, writer)
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()


# --- helpers ---------------------------------------------------------------------------------------------


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) as a host and a port number."""
    parts = urlsplit(f"//{authority}")
    try:
        port = parts.port or default_port
    except ValueError:
        raise _BadRequest(f"bad port in {authority[:100]!r}") from None
    if not parts.hostname:
        raise _BadRequest(f"no host in {authority[:100]!r}")
    return parts.hostname, port


def _request_headers(raw: bytes) -> tuple[bytes, int, bool]:
    """The end-to-end request header lines (hop-by-hop ones dropped), the body length, and chunked-ness."""
    kept: list[bytes] = []
    length = 0
    chunked = False
    for line in raw.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise _BadRequest("malformed header line")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise _BadRequest("bad Content-Length") from None
        if lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        if lowered not in _HOP_BY_HOP:
            kept.append(line + b"\r\n")
    return b"".join(kept), length, chunked


def _close_response_head(head: bytes) -> bytes:
    """A response head with its connection headers replaced by `Connection: close`."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [
        line for line in lines[1:] if line.partition(b":")[0].strip().lower() not in _HOP_BY_HOP
    ]
    return b"\r\n".join([*kept, b"Connection: close", b"", b""])


async def _answer(
    writer: asyncio.StreamWriter, status: int, phrase: str, text: str, *, denied: bool = False
) -> None:
    body = text.encode("utf-8", "replace")
    extra = f"{DENIED_HEADER}: denied\r\n" if denied else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    with contextlib.suppress(ConnectionError):
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while True:
        chunk = await asyncio.wait_for(source.read(1 << 16), _IDLE_TIMEOUT)
        if not chunk:
            return
        sink.write(chunk)
        await sink.drain()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until either side closes or goes idle."""

    async def one_way(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            await _copy(source, sink)
        with contextlib.suppress(Exception):
            if sink.can_write_eof():
                sink.write_eof()

    try:
        await asyncio.gather(one_way(reader, up_writer), one_way(up_reader, writer))
    finally:
        up_writer.close()
        with contextlib.suppress(Exception):
            await up_writer.wait_closed()
