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

Proxies are the operator's choice, never a model's: `--proxy-url` (http://, https://, socks5://, socks5h://,
credentials allowed and never shown) or the environment's `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, with
`NO_PROXY` (or `--no-proxy`) naming hosts reached directly (`ProxyConfig`). A URL a model gives picks a
route but cannot name a proxy. The guard checks the DESTINATION, through a proxy as without one: the name
first, then every address this machine resolves it to, before the proxy hears of the request (so
`http://169.254.169.254/` is refused without any connection to the proxy). What holds against DNS
rebinding differs by proxy kind: directly and with `socks5://` the connection goes to the address that
was checked (pinned); with `http(s)://` and `socks5h://` the proxy resolves the name again itself, so a
name whose answer changes between the two lookups reaches what the proxy can reach. Use `socks5://`, or a
proxy that refuses internal destinations, where that matters. The proxy's own address is not checked
(a proxy on loopback is fine).

The HTTP stack (httpx2, httpcore2, ssl) is imported when the first client is built, not with this module.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from patchbay_common.errors import AccessDenied, UserError

if TYPE_CHECKING:
    import httpx2

    from patchbay_common._egress_http import GuardedTransport

__all__ = [
    "EgressDenied",
    "EgressPolicy",
    "EgressSettings",
    "GuardedTransport",
    "HostUnresolvable",
    "IPAddress",
    "ProxyConfig",
    "ProxyRoute",
    "ProxySettings",
    "blocked_reason",
    "check_url",
    "open_proxy_connection",
    "open_tunnel",
    "proxied_client",
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
        proxies: the operator's proxies (`ProxyConfig`); None connects directly.
    """

    allow_private: bool = False
    allow_hosts: Sequence[str] = ()
    block_hosts: Sequence[str] = ()
    only_allowed_hosts: bool = False
    proxies: ProxyConfig | None = None
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
            proxies=settings.proxy_config(),
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
        import httpx2  # the parser the client uses, imported with the client

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
        """An httpx2 transport enforcing this policy on every connection (`options` go to the pools).

        `proxy` (an operator's URL) replaces the policy's own proxies for this transport.
        """
        from patchbay_common._egress_http import GuardedTransport

        proxies = ProxyConfig.from_env({}, proxy_url=proxy) if proxy is not None else self.proxies
        return GuardedTransport(self, proxies=proxies, **options)

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
        to the connection pools (limits, http2, verify, ...). Requests go through the policy's `proxies`
        (the operator's flags and environment, read once by `EgressSettings`), or `proxy` if given; httpx2's
        own reading of the environment is off.
        """
        import httpx2

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


def proxied_client(proxies: ProxyConfig | None, **client_options: Any) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` that follows the operator's proxies and checks nothing else.

    For operator-set destinations (an API base URL); model-chosen URLs go through `EgressPolicy.client()`.
    `transport_options` (limits, verify, ...) go to the connection pools, the rest to `AsyncClient`.
    """
    from patchbay_common import _egress_http

    return _egress_http.proxied_client(proxies, **client_options)


def __getattr__(name: str) -> Any:
    """`GuardedTransport` is imported on first use, with the HTTP stack."""
    if name == "GuardedTransport":
        from patchbay_common._egress_http import GuardedTransport

        return GuardedTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- proxies ------------------------------------------------------------------------------------------

PROXY_SCHEMES: Final = ("http", "https", "socks5", "socks5h")
_DEFAULT_PROXY_PORTS: Final = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class ProxyRoute:
    """One proxy server, as the operator named it (a flag or an environment variable).

    `scheme` is how to talk to the proxy: `http` (plain HTTP, CONNECT for https targets), `https` (TLS to the
    proxy), `socks5` (names resolved here, the checked address sent to the proxy) or `socks5h` (the name
    sent, the proxy resolves it). `url` holds the credentials, if any; `shown` never does.
    """

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    origin: str = ""  # where the operator set it: "--proxy-url", "HTTPS_PROXY", ...

    @classmethod
    def parse(cls, text: str, origin: str = "--proxy-url") -> ProxyRoute:
        """Read `scheme://[user[:password]@]host[:port]` (no scheme means http://, as curl reads it).

        Raises:
            ValueError: an unsupported scheme or no host; the message never holds the credentials.
        """
        from urllib.parse import unquote, urlsplit

        raw = text.strip()
        if "://" not in raw:
            raw = "http://" + raw
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        shown = _hide_credentials(raw)
        if scheme not in PROXY_SCHEMES:
            raise ValueError(
                f"{origin}: the proxy {shown} uses {scheme or '(none)'}://; "
                "use http://, https://, socks5:// (names resolved here) or socks5h:// (resolved by the proxy)"
            )
        try:
            port = parts.port or _DEFAULT_PROXY_PORTS[scheme]
        except ValueError:
            raise ValueError(f"{origin}: the proxy {shown} has a bad port") from None
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise ValueError(f"{origin}: the proxy {shown} names no host")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        from patchbay_common.errors import register_secret

        route = cls(scheme, host, port, username or None, password, origin)
        register_secret(password if password else username)  # a lone user name is a token
        basic = route.basic_auth()
        if basic is not None:
            register_secret(basic.removeprefix("Basic "))  # as a Proxy-Authorization header would show it
        return route

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves the target name (http, https, socks5h) rather than this process."""
        return self.scheme != "socks5"

    @property
    def _authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The full URL, credentials included (percent-encoded): for the HTTP clients only, never shown."""
        from urllib.parse import quote

        if self.username is None:
            return f"{self.scheme}://{self._authority}"
        auth = quote(self.username, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        return f"{self.scheme}://{auth}@{self._authority}"

    @property
    def url_without_credentials(self) -> str:
        """`scheme://host:port`, for clients that take the credentials separately."""
        return f"{self.scheme}://{self._authority}"

    @property
    def shown(self) -> str:
        """The URL as logs, errors and `--help` may show it: `scheme://user:***@host:port`."""
        if self.username is None:
            return self.url_without_credentials
        user = "***" if self.password is None else f"{self.username}:***"
        return f"{self.scheme}://{user}@{self._authority}"

    def __str__(self) -> str:
        return self.shown

    def basic_auth(self) -> str | None:
        """The `Proxy-Authorization` value for an HTTP proxy with credentials, or None."""
        if self.username is None:
            return None
        import base64

        pair = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def _hide_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{tail}"


@dataclass(frozen=True)
class _Bypass:
    """One NO_PROXY entry: a name (with its subdomains), an address, a CIDR network, maybe with a port."""

    name: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None

    @classmethod
    def parse(cls, text: str) -> _Bypass | None:
        entry = text.strip().lower()
        if not entry:
            return None
        port: int | None = None
        try:
            return cls(None, ipaddress.ip_network(entry.strip("[]"), strict=False), None)
        except ValueError:
            pass
        if entry.startswith("["):  # [v6]:port
            inner, _, after = entry[1:].partition("]")
            entry = inner
            if after.startswith(":") and after[1:].isdigit():
                port = int(after[1:])
        elif entry.count(":") == 1:
            host, _, digits = entry.partition(":")
            if digits.isdigit():
                entry, port = host, int(digits)
        try:
            return cls(None, ipaddress.ip_network(entry, strict=False), port)
        except ValueError:
            pass
        name = entry.removeprefix("*").removeprefix(".").rstrip(".")
        if not name or "*" in name or "/" in name:
            return None  # curl and requests skip what they cannot read; so do we
        try:
            name = _normalise_name(name)
        except EgressDenied:
            return None
        return cls(name, None, port)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            literal = _literal(host)
            return literal is not None and literal.version == self.network.version and literal in self.network
        assert self.name is not None
        return host == self.name or host.endswith("." + self.name)


@dataclass(frozen=True)
class ProxyConfig:
    """Which proxy, if any, a request to a given URL goes through: the operator's choice, never a model's.

    Read from `--proxy-url`/`--no-proxy` and the environment as curl and requests read it: `https_proxy`
    for https URLs, `http_proxy` for http ones (the upper-case `HTTP_PROXY` too, except in a CGI process,
    where a client's `Proxy:` header would set it), `all_proxy` for both, lower case before upper case;
    `--proxy-url` wins over all of them. `no_proxy`/`NO_PROXY` (or `--no-proxy`) lists hosts reached
    directly, comma- or space-separated: `*` (everything), a name (`example.com` also matches
    `www.example.com`; a leading `.` or `*.` means the same), an IP address, a CIDR network (matched
    against literal addresses in URLs, as curl does: names are not resolved for it), each optionally with
    `:port`. It applies to `--proxy-url` too, as curl applies it to `-x`.
    """

    http: ProxyRoute | None = None
    https: ProxyRoute | None = None
    bypass: tuple[_Bypass, ...] = ()
    bypass_all: bool = False

    @classmethod
    def direct(cls) -> ProxyConfig:
        """No proxy at all."""
        return cls()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        proxy_url: str | None = None,
        no_proxy: str | None = None,
    ) -> ProxyConfig:
        """The proxies `proxy_url` and the environment name (ValueError naming the variable if malformed)."""
        env = os.environ if environ is None else environ

        def variable(*names: str) -> ProxyRoute | None:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return ProxyRoute.parse(value, name)
            return None

        if proxy_url is not None and proxy_url.strip():
            explicit = ProxyRoute.parse(proxy_url, "--proxy-url")
            http: ProxyRoute | None = explicit
            https: ProxyRoute | None = explicit
        else:
            every = variable("all_proxy", "ALL_PROXY")
            cgi = "REQUEST_METHOD" in env  # httpoxy: a CGI request's Proxy: header arrives as HTTP_PROXY
            http = variable("http_proxy", *(() if cgi else ("HTTP_PROXY",))) or every
            https = variable("https_proxy", "HTTPS_PROXY") or every
        listed = no_proxy if no_proxy is not None else (env.get("no_proxy") or env.get("NO_PROXY") or "")
        entries = [e for e in listed.replace(" ", ",").split(",") if e.strip()]
        bypass_all = any(e.strip() == "*" for e in entries)
        rules = tuple(rule for rule in map(_Bypass.parse, entries) if rule is not None)
        return cls(http, https, rules, bypass_all)

    @property
    def routes(self) -> tuple[ProxyRoute, ...]:
        """The distinct proxies configured."""
        found: list[ProxyRoute] = []
        for route in (self.http, self.https):
            if route is not None and route not in found:
                found.append(route)
        return tuple(found)

    def route_for(self, scheme: str, host: str, port: int | None = None) -> ProxyRoute | None:
        """The proxy a request for `scheme://host:port` goes through, or None to connect directly."""
        scheme = scheme.lower()
        route = self.https if scheme in ("https", "wss") else self.http
        if route is None or self.bypass_all:
            return None
        try:
            name = _normalise_name(host)
        except EgressDenied:
            return route
        port = port or (443 if scheme in ("https", "wss") else 80)
        if any(rule.matches(name, port) for rule in self.bypass):
            return None
        return route

    def route_for_url(self, url: str) -> ProxyRoute | None:
        """`route_for` of a URL string (for clients whose destination is fixed, such as an API base URL)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        return self.route_for(parts.scheme, parts.hostname or "", port)

    def describe(self) -> str:
        """One line for the start-up log, credentials hidden."""
        if not self.routes:
            return "direct (no proxy configured)"
        said = [
            f"{kind} via {route.shown} ({route.origin})"
            for kind, route in (("http", self.http), ("https", self.https))
            if route
        ]
        if self.bypass_all:
            said.append("NO_PROXY=* (every host direct)")
        elif self.bypass:
            said.append(f"{len(self.bypass)} NO_PROXY entries")
        return "; ".join(said)


async def open_tunnel(
    route: ProxyRoute, host: str, port: int, addresses: Sequence[IPAddress] = (), *, within: float = 10.0
) -> tuple[Any, Any]:
    """Open a byte stream to `host:port` through `route`; return asyncio's (reader, writer) pair.

    For callers that relay bytes themselves (the browser server's own proxy). HTTP(S) proxies get
    `CONNECT host:port` and resolve the name; `socks5` gets the first of `addresses` (what the egress guard
    checked), `socks5h` the name. The caller has checked the destination already.

    Raises:
        OSError: the proxy cannot be reached or refused the tunnel (the message never holds credentials).
    """
    import asyncio

    return await asyncio.wait_for(_open_tunnel(route, host, port, addresses), within)


async def open_proxy_connection(route: ProxyRoute) -> tuple[Any, Any]:
    """Connect to the proxy itself (TLS for an https:// proxy); asyncio's (reader, writer)."""
    import asyncio

    ssl_context: Any = None
    if route.scheme == "https":
        import ssl

        ssl_context = ssl.create_default_context()
    try:
        return await asyncio.open_connection(
            route.host, route.port, ssl=ssl_context, server_hostname=route.host if ssl_context else None
        )
    except OSError as exc:
        raise OSError(f"cannot reach the proxy {route.shown}: {exc.strerror or exc}") from None


async def _open_tunnel(
    route: ProxyRoute, host: str, port: int, addresses: Sequence[IPAddress]
) -> tuple[Any, Any]:
    reader, writer = await open_proxy_connection(route)
    try:
        if route.scheme in ("http", "https"):
            await _http_connect(reader, writer, route, host, port)
        else:
            target = str(addresses[0]) if route.scheme == "socks5" and addresses else host
            await _socks5_connect(reader, writer, route, target, port)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _http_connect(reader: Any, writer: Any, route: ProxyRoute, host: str, port: int) -> None:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    auth = route.basic_auth()
    if auth is not None:
        lines.append(f"Proxy-Authorization: {auth}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or fields[1] != "200":
        raise OSError(f"the proxy {route.shown} refused CONNECT {authority}: {status_line[:200]}")


async def _socks5_connect(reader: Any, writer: Any, route: ProxyRoute, host: str, port: int) -> None:
    async def send(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def receive(count: int) -> bytes:
        data: bytes = await reader.readexactly(count)
        return data

    await socks5_handshake(send, receive, route, host, port)


async def socks5_handshake(
    send: Callable[[bytes], Awaitable[None]],
    receive: Callable[[int], Awaitable[bytes]],
    route: ProxyRoute,
    host: str,
    port: int,
) -> None:
    """Ask a SOCKS5 proxy (RFC 1928, user/password auth of RFC 1929) to connect to `host:port`.

    `host` is sent as an address when it is a literal (what socks5:// sends after the guard's lookup) and as
    a name otherwise (socks5h://). `receive(n)` returns exactly n bytes.

    Raises:
        OSError: the proxy refused; the message names the proxy without its credentials.
    """
    import struct

    method = 2 if route.username is not None else 0
    await send(bytes([5, 1, method]))
    version, chosen = await receive(2)
    if version != 5 or chosen != method:
        raise OSError(f"the SOCKS proxy {route.shown} refused the authentication method")
    if route.username is not None:
        user = route.username.encode()[:255]
        password = (route.password or "").encode()[:255]
        await send(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        _, status = await receive(2)
        if status != 0:
            raise OSError(f"the SOCKS proxy {route.shown} refused the user name or password")
    literal = _literal(host.strip("[]"))
    if isinstance(literal, ipaddress.IPv4Address):
        address = b"\x01" + literal.packed
    elif isinstance(literal, ipaddress.IPv6Address):
        address = b"\x04" + literal.packed
    else:
        name = host.encode("idna")[:255]
        address = b"\x03" + bytes([len(name)]) + name
    await send(b"\x05\x01\x00" + address + struct.pack("!H", port))
    _, reply, _, kind = await receive(4)
    if reply != 0:
        raise OSError(f"the SOCKS proxy {route.shown} could not connect to {host}:{port} (reply {reply})")
    skip = {1: 4, 4: 16}.get(kind)
    if skip is None:
        skip = (await receive(1))[0]
    await receive(skip + 2)


# --- flags --------------------------------------------------------------------------------------------


class ProxySettings(BaseSettings):
    """Proxy flags, mixed into the settings of every server that makes outbound HTTP requests.

    `proxy_config()` reads them together with the environment's proxy variables.
    """

    # Only the server's own settings class (a subclass) is instantiated: build validators there, on first
    # use, not for this mixin and EgressSettings at import (each would cost a start 1-3 ms).
    model_config = SettingsConfigDict(defer_build=True)

    proxy_url: SecretStr | None = Field(
        None,
        description="Send outbound requests through this proxy: http://, https://, socks5:// (names "
        "resolved here) or socks5h:// (by the proxy); user:password@ allowed, never shown. Default: "
        "HTTPS_PROXY, HTTP_PROXY and ALL_PROXY from the environment.",
        json_schema_extra={"metavar": "URL"},
    )
    no_proxy: str | None = Field(
        None,
        description="Hosts reached without the proxy, comma-separated: names (with their subdomains), "
        ".domain, IP addresses, CIDR networks, host:port, or * for all. Default: NO_PROXY.",
        json_schema_extra={"metavar": "HOSTS"},
    )

    def proxy_config(self, environ: Mapping[str, str] | None = None) -> ProxyConfig:
        """The proxies these flags and the environment name (ValueError, credentials hidden, if malformed)."""
        url = self.proxy_url.get_secret_value() if self.proxy_url is not None else None
        return ProxyConfig.from_env(environ, proxy_url=url, no_proxy=self.no_proxy)


class EgressSettings(ProxySettings):
    """Egress flags, mixed into a server's settings: `class Settings(EgressSettings, CommonSettings)`.

    (In that order `--help` lists the common flags first.) `egress_policy()` gives the policy to enforce,
    proxies included.
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
