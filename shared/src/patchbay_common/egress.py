"""The egress guard: which hosts a server may reach on a model's behalf, enforced where the socket is opened.

A model-chosen URL is a server-side request forgery waiting to happen: `http://169.254.169.254/` (cloud
metadata), `http://localhost:6379/`, a name that resolves to 10.0.0.5, or one that resolves to a public
address when checked and to 127.0.0.1 a moment later (DNS rebinding). Checking the URL string cannot stop
these; checking the name and then letting the HTTP client look it up again cannot stop the last one.

So the guard sits in the connection itself. `EgressPolicy.client()` gives an `httpx2.AsyncClient` whose
network backend, for every new connection (every redirect hop included), resolves the host once with the
system resolver, classifies every address with `ipaddress` (never by string matching, so decimal, hex,
octal, short and IPv6-embedded spellings are judged by the address they finally mean), refuses the
connection if any address is blocked, and dials the address it checked. TLS still verifies the original
name. `EgressPolicy.check_url()` runs the same checks without connecting, for callers that cannot hand
over the socket (a browser's request interception) and must compare what they are about to reach.

Blocked unless the operator allows them: loopback, private (RFC 1918, ULA), link-local, CGNAT shared
space, multicast, unspecified, reserved, documentation and benchmarking ranges, anything else that is not
globally routable, IPv6 forms that embed such an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo),
and the cloud metadata names and addresses (blocked even with `--allow-private`, unless allow-listed by
name or address).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import httpcore2
import httpx2
from pydantic import Field
from pydantic_settings import BaseSettings

from patchbay_common.errors import AccessDenied, UserError

__all__ = [
    "EgressDenied",
    "EgressPolicy",
    "EgressSettings",
    "GuardedTransport",
    "HostUnresolvable",
    "IPAddress",
    "blocked_reason",
    "check_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = ("http", "https")

METADATA_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
"""Names of cloud instance-metadata services; refused by name before any lookup."""

METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS resolver
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address, reachable only from inside Azure)
        "192.0.0.192",  # Oracle Cloud
    )
)
"""Cloud metadata endpoints: refused even with `allow_private`, unless allow-listed explicitly."""

_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")
_NAT64: Final = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_COMPAT_V6: Final = ipaddress.IPv6Network("::/96")


class EgressDenied(AccessDenied):
    """The egress policy refuses this URL, host or address."""


class HostUnresolvable(UserError):
    """The host name does not resolve (so nothing was checked and nothing is dialled)."""


# --- classification -----------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _COMPAT_V6 and int(address) > 1:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _ipv4_reason(address: ipaddress.IPv4Address) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified or address in ipaddress.IPv4Network("0.0.0.0/8"):
        return "unspecified ('this network')"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in ipaddress.IPv4Network("100.64.0.0/10"):
        return "carrier-grade NAT shared"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved or not globally routable"
    return None


def _ipv6_reason(address: ipaddress.IPv6Address) -> str | None:
    for inner in _embedded_ipv4(address):
        reason = _ipv4_reason(inner)
        if reason is not None:
            return f"IPv6 form of a {reason} IPv4 address ({inner})"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local or address.is_site_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in ipaddress.IPv6Network("fc00::/7"):
        return "private (unique local)"
    if address not in _GLOBAL_UNICAST_V6 or address.is_private or not address.is_global:
        return "reserved or not globally routable"
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public internet address ("loopback", "private", ...), or None if it is.

    Cloud metadata addresses are reported as such even where the address itself is public.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        if any(inner in METADATA_ADDRESSES for inner in _embedded_ipv4(address)):
            return "cloud metadata"
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_reason(address)
    return _ipv6_reason(address)


# --- host rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HostRule:
    """One `--allow-host`/`--block-host` entry: a name (`example.com`, `*.example.com`) or an IP/CIDR."""

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    name: str | None
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> _HostRule:
        entry = text.strip().lower().rstrip(".")
        if entry.startswith("[") and entry.endswith("]"):
            entry = entry[1:-1]
        if not entry:
            raise ValueError(f"empty host rule {text!r}")
        try:
            return cls(text, ipaddress.ip_network(entry, strict=False), None, False)
        except ValueError:
            pass
        wildcard = entry.startswith("*.")
        name = _normalise_name(entry[2:] if wildcard else entry)
        if not name or "/" in name or "*" in name:
            raise ValueError(f"host rule {text!r} is neither a host name, *.domain, an IP address nor a CIDR")
        return cls(text, None, name, wildcard)

    def matches_name(self, host: str) -> bool:
        if self.name is None:
            return False
        return host == self.name or (self.wildcard and host.endswith("." + self.name))

    def matches_address(self, address: IPAddress) -> bool:
        return (
            self.network is not None and address.version == self.network.version and address in self.network
        )


def _normalise_name(host: str) -> str:
    """Lower-case, no trailing dot, no brackets, IDNA (punycode) for non-ASCII names."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressDenied(f"The host name {host!r} is not a valid internationalised name.") from None
    return host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_HINT = (
    "Only public internet addresses can be reached; the operator sets this with --allow-private, "
    "--allow-host and --block-host, and a tool call cannot change it."
)


# --- the policy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts may be reached: public addresses only, plus what the operator allows.

    Args:
        allow_private: let loopback, private, link-local and other internal addresses through
            (cloud metadata stays blocked unless allow-listed).
        allow_hosts: names (`example.com`, `*.example.com` for the name and its subdomains), addresses or
            CIDR networks that may be reached even when internal.
        block_hosts: names, addresses or networks that are never reached; wins over everything else.
        only_allowed_hosts: refuse every host that `allow_hosts` does not name.
    """

    allow_private: bool = False
    allow_hosts: Sequence[str] = ()
    block_hosts: Sequence[str] = ()
    only_allowed_hosts: bool = False
    _allow: tuple[_HostRule, ...] = field(init=False, repr=False, compare=False)
    _block: tuple[_HostRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", tuple(_HostRule.parse(h) for h in self.allow_hosts))
        object.__setattr__(self, "_block", tuple(_HostRule.parse(h) for h in self.block_hosts))

    @classmethod
    def from_settings(cls, settings: EgressSettings) -> EgressPolicy:
        """The policy the operator configured with the `EgressSettings` flags."""
        return cls(
            allow_private=settings.allow_private,
            allow_hosts=tuple(settings.allow_host),
            block_hosts=tuple(settings.block_host),
            only_allowed_hosts=settings.only_allowed_hosts,
        )

    # -- checks ---------------------------------------------------------------------------------------

    def check_scheme(self, scheme: str, url: str) -> None:
        """Refuse anything but http and https."""
        if scheme.lower() not in ALLOWED_SCHEMES:
            raise EgressDenied(
                f"The URL {url} uses the scheme {scheme or '(none)'!r}; only http and https are fetched.",
                hint="Give an http:// or https:// URL.",
            )

    def check_name(self, host: str) -> str:
        """Check a host name (or literal address) before any lookup; return its normal form.

        Raises:
            EgressDenied: the name is blocked, a metadata name, or not allow-listed under
                `only_allowed_hosts`.
        """
        name = _normalise_name(host)
        if not name:
            raise EgressDenied("The URL has no host.", hint="Give a full URL such as https://example.com/.")
        if any(rule.matches_name(name) for rule in self._block):
            raise EgressDenied(f"The host {name} is blocked by the operator (--block-host).", hint=_HINT)
        allowed_by_name = any(rule.matches_name(name) for rule in self._allow)
        if name in METADATA_NAMES and not allowed_by_name:
            raise EgressDenied(
                f"The host {name} is a cloud metadata service and is never reached.", hint=_HINT
            )
        if self.only_allowed_hosts and not allowed_by_name:
            literal = _literal(name)
            if literal is None or not any(rule.matches_address(literal) for rule in self._allow):
                raise EgressDenied(
                    f"The host {name} is not on this server's list of allowed hosts (--allow-host).",
                    hint=_HINT,
                )
        return name

    def check_address(self, host: str, address: IPAddress) -> None:
        """Check one address `host` resolved to.

        Raises:
            EgressDenied: the address is blocked, or internal and not allowed.
        """
        if any(rule.matches_address(address) for rule in self._block):
            raise EgressDenied(
                f"The host {host} resolves to {address}, which the operator blocks (--block-host).",
                hint=_HINT,
            )
        allowed = any(rule.matches_address(address) or rule.matches_name(host) for rule in self._allow)
        if self.only_allowed_hosts and not allowed:
            raise EgressDenied(
                f"The host {host} ({address}) is not on this server's list of allowed hosts (--allow-host).",
                hint=_HINT,
            )
        reason = blocked_reason(address)
        if reason is None or allowed:
            return
        if self.allow_private and reason != "cloud metadata":
            return
        shown = host if host == str(address) else f"{host} resolves to {address}, which"
        raise EgressDenied(f"Refused to connect: {shown} is a {reason} address.", hint=_HINT)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host` once with the system resolver and check every address; return them in order.

        Raises:
            EgressDenied: the name or any of its addresses is refused.
            HostUnresolvable: the name does not resolve.
        """
        name = self.check_name(host)
        literal = _literal(name)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                infos = await anyio.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise HostUnresolvable(
                    f"The host {name} could not be resolved ({exc}).",
                    hint="Check the spelling of the URL; the site may not exist.",
                ) from None
            addresses = []
            for _family, _type, _proto, _canon, sockaddr in infos:
                address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
                if address not in addresses:
                    addresses.append(address)
            if not addresses:
                raise HostUnresolvable(f"The host {name} has no address.", hint="Check the URL.")
        for address in addresses:
            self.check_address(name, address)
        return addresses

    async def check_url(self, url: str | httpx2.URL) -> list[IPAddress]:
        """Check a URL as a connection to it would be checked; return the addresses it may be dialled at.

        The URL is parsed by httpx2 (the same parser the client uses), so what is checked is what would be
        connected to. A caller that connects by itself should connect only to the returned addresses.

        Raises:
            EgressDenied: the scheme, name or any resolved address is refused.
            HostUnresolvable: the name does not resolve.
        """
        try:
            parsed = url if isinstance(url, httpx2.URL) else httpx2.URL(url)
        except (httpx2.InvalidURL, TypeError, ValueError) as exc:
            raise EgressDenied(
                f"The URL {str(url)[:200]!r} is not valid ({exc}).", hint="Give a full URL."
            ) from None
        self.check_scheme(parsed.scheme, str(parsed))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return await self.resolve(parsed.raw_host.decode("ascii"), port)  # the name as it is dialled

    # -- HTTP ----------------------------------------------------------------------------------------

    def transport(self, *, proxy: str | None = None, **options: Any) -> GuardedTransport:
        """An httpx2 transport enforcing this policy on every connection (`options` go to the pool)."""
        return GuardedTransport(self, proxy=proxy, **options)

    def client(
        self,
        *,
        proxy: str | None = None,
        max_redirects: int = 5,
        transport_options: dict[str, Any] | None = None,
        **client_options: Any,
    ) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` that can reach only what this policy allows, redirects included.

        `client_options` go to `AsyncClient` (timeout, headers, follow_redirects, ...); `transport_options`
        to the connection pool (limits, http2, verify, ...). Environment proxies are ignored: pass `proxy`.
        """
        return httpx2.AsyncClient(
            transport=self.transport(proxy=proxy, **(transport_options or {})),
            max_redirects=max_redirects,
            trust_env=False,
            **client_options,
        )


async def check_url(url: str | httpx2.URL, policy: EgressPolicy | None = None) -> list[IPAddress]:
    """Check `url` under `policy` (default: public addresses only); return the addresses checked.

    For callers that open connections themselves, e.g. a browser's request interception.
    """
    return await (policy if policy is not None else EgressPolicy()).check_url(url)


# --- the transport ------------------------------------------------------------------------------------


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """A network backend that resolves, checks, and dials the checked address, for every connection."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._dial = httpcore2.AnyIOBackend()

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

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature httpcore2 calls
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise EgressDenied("Unix sockets are not reachable through the egress guard.")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that enforces an `EgressPolicy` on every request and every new connection.

    Without a proxy, each new connection resolves the host once, checks every address and dials a checked
    one (no second lookup to rebind). With a proxy the proxy resolves names itself: the target is checked
    before each request, but the address the proxy then picks cannot be pinned from here.
    """

    def __init__(self, policy: EgressPolicy, *, proxy: str | None = None, **options: Any) -> None:
        self.policy = policy
        self.proxy = proxy
        self._inner = httpx2.AsyncHTTPTransport(proxy=proxy, trust_env=False, **options)
        if proxy is None:
            pool: Any = self._inner._pool
            # httpx2 offers no constructor argument for the network backend; the pool it built has one slot.
            pool._network_backend = _GuardedBackend(policy)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Check the scheme and name (and, through a proxy, the addresses), then send."""
        url = request.url
        self.policy.check_scheme(url.scheme, str(url))
        if self.proxy is not None:
            await self.policy.check_url(url)
        else:
            self.policy.check_name(url.raw_host.decode("ascii"))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._inner.aclose()


# --- flags --------------------------------------------------------------------------------------------


class EgressSettings(BaseSettings):
    """Egress flags, mixed into a server's settings: `class Settings(EgressSettings, CommonSettings)`.

    (In that order `--help` lists the common flags first.) `egress_policy()` gives the policy to enforce.
    """

    allow_private: bool = Field(
        False,
        description="Allow loopback, private, link-local and other internal addresses "
        "(cloud metadata stays blocked unless named in --allow-host).",
    )
    allow_host: list[str] = Field(
        default_factory=list,
        description="Host that may be reached even if internal (repeatable): a name, *.domain "
        "(the domain and its subdomains), an IP address or a CIDR network.",
    )
    block_host: list[str] = Field(
        default_factory=list,
        description="Host that is never reached (repeatable; same forms as --allow-host; wins over it).",
    )
    only_allowed_hosts: bool = Field(
        False, description="Reach only the hosts named by --allow-host; refuse all others."
    )

    def egress_policy(self) -> EgressPolicy:
        """The `EgressPolicy` these flags describe (raises ValueError for a malformed host rule)."""
        return EgressPolicy.from_settings(self)
