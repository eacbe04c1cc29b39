"""The egress guard against a real local HTTP server: what it refuses, what it lets through, what it dials."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx2
import pytest
from pydantic_settings import SettingsConfigDict

from patchbay_common.egress import (
    EgressDenied,
    EgressPolicy,
    EgressSettings,
    HostUnresolvable,
    blocked_reason,
    check_url,
)
from patchbay_common.errors import UserError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append(self.path)
        if self.path.startswith("/redirect"):
            target = self.path.split("to=", 1)[1]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _port(site: Any) -> int:
    return int(site.server_address[1])


# --- classification -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT shared"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fec0::1", "link-local"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("::ffff:127.0.0.1", "loopback IPv4"),
        ("::127.0.0.1", "loopback IPv4"),
        ("64:ff9b::10.0.0.1", "private IPv4"),
        ("2002:7f00:1::", "loopback IPv4"),
    ],
)
def test_internal_addresses_are_classified(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "2a00:1450::1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


# --- the client ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_loopback_refused_by_default_and_nothing_reaches_the_server(site: Any) -> None:
    before = len(site.seen)
    async with EgressPolicy().client() as client:
        with pytest.raises(EgressDenied) as caught:
            await client.get(f"http://127.0.0.1:{_port(site)}/secret")
    assert "127.0.0.1 is a loopback address" in str(caught.value)
    assert "--allow-private" in str(caught.value)
    assert isinstance(caught.value, UserError)
    assert len(site.seen) == before


@pytest.mark.anyio
@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "2130706433",  # decimal
        "0x7f.0.0.1",  # hex
        "017700000001",  # octal, one number
        "127.1",  # short form
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "example.com@127.0.0.1",  # userinfo trick: the host is 127.0.0.1
    ],
)
async def test_odd_spellings_are_judged_by_the_dialled_address(site: Any, host: str) -> None:
    before = len(site.seen)
    async with EgressPolicy().client() as client:
        with pytest.raises(EgressDenied, match="loopback"):
            await client.get(f"http://{host}:{_port(site)}/x")
    assert len(site.seen) == before


@pytest.mark.anyio
async def test_dotted_octal_is_rejected_by_the_parser(site: Any) -> None:
    before = len(site.seen)
    async with EgressPolicy().client() as client:
        with pytest.raises(httpx2.InvalidURL):
            await client.get(f"http://0177.0.0.1:{_port(site)}/x")
    with pytest.raises(EgressDenied, match="not valid"):
        await check_url(f"http://0177.0.0.1:{_port(site)}/x")
    assert len(site.seen) == before


@pytest.mark.anyio
async def test_allow_private_reaches_the_local_server(site: Any) -> None:
    async with EgressPolicy(allow_private=True).client() as client:
        response = await client.get(f"http://127.0.0.1:{_port(site)}/ok")
    assert response.status_code == 200
    assert response.text == "hello /ok"


@pytest.mark.anyio
@pytest.mark.parametrize("rule", ["127.0.0.1", "127.0.0.0/8", "localhost", "*.localhost"])
async def test_allow_host_reaches_the_named_host(site: Any, rule: str) -> None:
    host = "127.0.0.1" if rule[0].isdigit() else "localhost"
    async with EgressPolicy(allow_hosts=[rule]).client() as client:
        response = await client.get(f"http://{host}:{_port(site)}/named")
    assert response.text == "hello /named"


@pytest.mark.anyio
async def test_block_host_wins_over_allow_private(site: Any) -> None:
    policy = EgressPolicy(allow_private=True, block_hosts=["127.0.0.0/8"])
    async with policy.client() as client:
        with pytest.raises(EgressDenied, match="--block-host"):
            await client.get(f"http://127.0.0.1:{_port(site)}/")
    with pytest.raises(EgressDenied, match="blocked by the operator"):
        await EgressPolicy(block_hosts=["*.example.com"]).check_url("https://www.Example.com./")


@pytest.mark.anyio
async def test_only_allowed_hosts_refuses_every_other_host(site: Any) -> None:
    policy = EgressPolicy(allow_hosts=["localhost"], only_allowed_hosts=True)
    async with policy.client() as client:
        assert (await client.get(f"http://localhost:{_port(site)}/a")).status_code == 200
        with pytest.raises(EgressDenied, match="not on this server's list"):
            await client.get(f"http://127.0.0.1:{_port(site)}/a")
    with pytest.raises(EgressDenied, match="not on this server's list"):
        await policy.check_url("https://example.com/")


@pytest.mark.anyio
async def test_every_redirect_hop_is_checked(site: Any) -> None:
    port = _port(site)
    policy = EgressPolicy(allow_hosts=["localhost"])  # the name, not the address
    before = len(site.seen)
    async with policy.client(follow_redirects=True) as client:
        ok = await client.get(f"http://localhost:{port}/redirect?to=http://localhost:{port}/landed")
        assert ok.text == "hello /landed"
        with pytest.raises(EgressDenied, match="loopback"):
            await client.get(f"http://localhost:{port}/redirect?to=http://127.0.0.1:{port}/internal")
    assert "/internal" not in site.seen[before:]


@pytest.mark.anyio
async def test_redirects_are_capped(site: Any) -> None:
    port = _port(site)
    chain = f"http://127.0.0.1:{port}/end"
    for _ in range(4):
        chain = f"http://127.0.0.1:{port}/redirect?to={chain}"
    async with EgressPolicy(allow_private=True).client(follow_redirects=True, max_redirects=2) as client:
        with pytest.raises(httpx2.TooManyRedirects):
            await client.get(chain)


@pytest.mark.anyio
async def test_the_checked_address_is_dialled_without_a_second_lookup(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding name answers 127.0.0.1 (allowed) once, then 127.0.0.2; only one lookup may happen."""
    port = _port(site)
    real = anyio.getaddrinfo
    answers: list[str] = []

    async def rebinding_resolver(host: Any, port_: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return await real(host, port_, **kwargs)
        address = "127.0.0.1" if not answers else "127.0.0.2"
        answers.append(address)
        return await real(address, port_, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", rebinding_resolver)
    policy = EgressPolicy(allow_hosts=["127.0.0.1/32"])
    async with policy.client() as client:
        response = await client.get(f"http://rebind.test:{port}/pinned")
    assert response.text == "hello /pinned"
    assert answers == ["127.0.0.1"]
    # A fresh check of the same name now sees the rebound (blocked) address.
    with pytest.raises(EgressDenied, match=r"127\.0\.0\.2"):
        await policy.check_url(f"http://rebind.test:{port}/")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:6379/_INFO", "javascript:alert(1)"],
)
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(EgressDenied, match="only http and https"):
        await check_url(url)


@pytest.mark.anyio
async def test_metadata_stays_blocked_with_allow_private() -> None:
    policy = EgressPolicy(allow_private=True)
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(EgressDenied, match="cloud metadata"):
            await policy.check_url(url)
    with pytest.raises(EgressDenied, match="cloud metadata service"):
        await policy.check_url("http://metadata.google.internal/computeMetadata/v1/")
    # ...unless the operator names it.
    assert await EgressPolicy(allow_hosts=["169.254.169.254"]).check_url("http://169.254.169.254/") == [
        ipaddress.ip_address("169.254.169.254")
    ]


@pytest.mark.anyio
async def test_check_url_returns_the_checked_addresses() -> None:
    addresses = await EgressPolicy(allow_private=True).check_url("http://localhost:1/")
    assert ipaddress.ip_address("127.0.0.1") in addresses
    with pytest.raises(HostUnresolvable, match="could not be resolved"):
        await check_url("http://no-such-host.invalid/")


def test_settings_mixin_builds_the_policy() -> None:
    class Settings(EgressSettings):
        model_config = SettingsConfigDict(cli_kebab_case=True, cli_implicit_flags=True, env_prefix="PB_TEST_")

    settings = Settings(
        _cli_parse_args=["--allow-host", "localhost", "--block-host", "10.0.0.0/8", "--allow-private"]
    )  # type: ignore[call-arg]
    policy = settings.egress_policy()
    assert policy.allow_private and list(policy.allow_hosts) == ["localhost"]
    assert list(policy.block_hosts) == ["10.0.0.0/8"]
    with pytest.raises(ValueError, match="neither a host name"):
        EgressPolicy(allow_hosts=["http://x/y"])


class _ForwardProxy(BaseHTTPRequestHandler):
    """A minimal HTTP forward proxy (absolute-form GET), recording each target it was asked for."""

    def do_GET(self) -> None:
        server: Any = self.server
        server.targets.append(self.path)
        with httpx2.Client(trust_env=False) as upstream:
            answer = upstream.get(self.path)
        body = answer.content
        self.send_response(answer.status_code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def proxy() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    server.targets = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_through_a_proxy_targets_are_checked_before_sending(site: Any, proxy: Any) -> None:
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    target = f"http://127.0.0.1:{_port(site)}/via-proxy"
    async with EgressPolicy().client(proxy=proxy_url) as client:
        with pytest.raises(EgressDenied, match="loopback"):
            await client.get(target)
    assert proxy.targets == []  # refused before the proxy heard of it
    async with EgressPolicy(allow_private=True).client(proxy=proxy_url) as client:
        response = await client.get(target)
    assert response.text == "hello /via-proxy"
    assert proxy.targets == [target]


@pytest.mark.anyio
async def test_internationalised_names_are_checked_in_their_ascii_form() -> None:
    policy = EgressPolicy(block_hosts=["*.xn--bcher-kva.example"])
    with pytest.raises(EgressDenied, match="blocked by the operator"):
        await policy.check_url("https://shop.b\u00fccher.example/")
    with pytest.raises(EgressDenied, match="blocked by the operator"):
        await EgressPolicy(block_hosts=["b\u00fccher.example"]).check_url("https://xn--bcher-kva.example/")
