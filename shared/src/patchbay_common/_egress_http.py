"""The HTTP side of the egress guard: httpx2 transports that check, pin and route every connection.

Kept apart from `patchbay_common.egress` so importing the policy (a server's settings do at start-up) does
not import httpx2, httpcore2 and ssl: this module is imported when the first client is built.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

from patchbay_common.egress import (
    EgressDenied,
    EgressPolicy,
    HostUnresolvable,
    IPAddress,
    ProxyConfig,
    ProxyRoute,
    socks5_handshake,
)

__all__ = ["GuardedTransport", "proxied_client"]


class _Backend(httpcore2.AsyncNetworkBackend):
    """What both guarded backends share: TCP dialled by anyio, no Unix sockets."""

    _dial = httpcore2.AnyIOBackend()

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature httpcore2 calls
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise EgressDenied("Unix sockets are not reachable through the egress guard.")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _GuardedBackend(_Backend):
    """A network backend that resolves, checks, and dials the checked address, for every connection."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature httpcore2 calls
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            addresses = await self._policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                stream: httpcore2.AsyncNetworkStream = await self._dial.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
                return stream
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class _SocksBackend(_Backend):
    """A network backend whose every connection is a SOCKS5 tunnel through one proxy.

    The pool above it sees an ordinary connection to the origin, so TLS verifies the origin's name. With
    `socks5://` the name is resolved here (through the policy, which checks every address) and the proxy
    is given the checked address; with `socks5h://` the proxy is given the name. A failed handshake closes
    its socket.
    """

    def __init__(self, route: ProxyRoute, policy: EgressPolicy | None) -> None:
        self._route = route
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature httpcore2 calls
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        targets: list[str] = [host]
        if self._route.scheme == "socks5":  # DNS here: the proxy gets an address we checked
            with anyio.fail_after(timeout):
                found = await (self._policy.resolve(host, port) if self._policy else _lookup(host, port))
            targets = [str(address) for address in found[:4]]
        elif self._policy is not None:
            self._policy.check_name(host)
        last: Exception | None = None
        for target in targets:
            stream = await self._dial.connect_tcp(
                self._route.host,
                self._route.port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
            try:
                with anyio.fail_after(timeout):
                    await socks5_handshake(
                        _sender(stream, timeout), _receiver(stream, timeout), self._route, target, port
                    )
            except BaseException as exc:
                await stream.aclose()
                if not isinstance(exc, OSError):
                    raise
                last = exc
                continue
            return stream
        raise httpcore2.ProxyError(str(last))


def _sender(stream: httpcore2.AsyncNetworkStream, timeout: float | None) -> Any:
    async def send(data: bytes) -> None:
        await stream.write(data, timeout=timeout)

    return send


def _receiver(stream: httpcore2.AsyncNetworkStream, timeout: float | None) -> Any:
    async def receive(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = await stream.read(count - len(data), timeout=timeout)
            if not chunk:
                raise OSError("the SOCKS proxy closed the connection")
            data += chunk
        return data

    return receive


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that routes each request directly or through the operator's proxy.

    With a `policy`, every request is checked: directly, each new connection resolves the host once, checks
    every address and dials a checked one (no second lookup to rebind). Through a proxy the target is
    resolved and checked here before the proxy hears of it; with `socks5://` the checked address is what
    the proxy is asked to connect to (pinned, TLS still verifies the name), while with `http(s)://` and
    `socks5h://` the proxy resolves the name again itself, so a name that changes its address between the
    two lookups reaches whatever the proxy can reach (see the egress module's notes). The proxy itself is
    never checked: it is the operator's choice, loopback included.

    Without a policy (`policy=None`) nothing is checked: for clients whose destination is an operator-set
    API URL, which only need the routing.
    """

    def __init__(
        self,
        policy: EgressPolicy | None,
        *,
        proxies: ProxyConfig | None = None,
        **options: Any,
    ) -> None:
        self.policy = policy
        self.proxies = proxies if proxies is not None else ProxyConfig.direct()
        self._options = options
        self._direct = httpx2.AsyncHTTPTransport(trust_env=False, **options)
        if policy is not None:
            pool: Any = self._direct._pool
            # httpx2 offers no constructor argument for the network backend; the pool it built has one slot.
            pool._network_backend = _GuardedBackend(policy)
        self._via: dict[ProxyRoute, httpx2.AsyncHTTPTransport] = {}

    @property
    def proxy(self) -> str | None:
        """The proxy https requests go through, as it may be shown (credentials hidden), or None."""
        route = self.proxies.https or self.proxies.http
        return route.shown if route is not None else None

    def _through(self, route: ProxyRoute) -> httpx2.AsyncHTTPTransport:
        transport = self._via.get(route)
        if transport is None:
            if route.scheme in ("socks5", "socks5h"):
                transport = httpx2.AsyncHTTPTransport(trust_env=False, **self._options)
                pool: Any = transport._pool
                pool._network_backend = _SocksBackend(route, self.policy)  # the same slot as the direct pool
            else:
                transport = httpx2.AsyncHTTPTransport(proxy=route.url, trust_env=False, **self._options)
            self._via[route] = transport
        return transport

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Check the scheme and name (and, through a proxy, the addresses), then send by the chosen route."""
        url = request.url
        host = url.raw_host.decode("ascii")
        if self.policy is not None:
            self.policy.check_scheme(url.scheme, str(url))
        route = self.proxies.route_for(url.scheme, host, url.port)
        if route is None:
            if self.policy is not None:
                self.policy.check_name(host)
            return await self._direct.handle_async_request(request)
        if self.policy is not None:
            await self.policy.check_url(url)  # refused here, before the proxy hears of it
        try:
            return await self._through(route).handle_async_request(request)
        except httpx2.ProxyError as exc:
            raise httpx2.ProxyError(f"the proxy {route.shown} ({route.origin}) failed: {exc}") from None

    async def aclose(self) -> None:
        """Close every pooled connection, direct and proxied."""
        await self._direct.aclose()
        for transport in list(self._via.values()):
            await transport.aclose()
        self._via.clear()


async def _lookup(host: str, port: int) -> list[IPAddress]:
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        return [literal]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise HostUnresolvable(f"The host {host} could not be resolved ({exc}).") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def proxied_client(proxies: ProxyConfig | None, **client_options: Any) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` that follows the operator's proxy settings and checks nothing else.

    For fixed, operator-set destinations (an API base URL); model-chosen URLs go through
    `EgressPolicy.client()` instead. `client_options` go to `AsyncClient`, except `transport_options`
    (limits, verify, ...), which go to the connection pools.
    """
    transport_options = client_options.pop("transport_options", None) or {}
    return httpx2.AsyncClient(
        transport=GuardedTransport(None, proxies=proxies, **transport_options),
        trust_env=False,
        **client_options,
    )
