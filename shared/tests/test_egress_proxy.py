"""Proxies through the egress guard, against real programs: tinyproxy (HTTP, CONNECT) and microsocks (SOCKS5).

What a user behind a proxy notices: the request goes through the proxy (its log says so, and the origin sees
the proxy's `Via`), `NO_PROXY` hosts go direct, socks5 sends the address the guard checked while socks5h
sends the name, TLS still verifies the name, the guard refuses internal destinations before the proxy hears
of them, a URL cannot pick a proxy, and the proxy's password appears nowhere.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout

import httpx2
import pytest
from pydantic_settings import SettingsConfigDict

from patchbay_common.egress import (
    EgressDenied,
    EgressPolicy,
    EgressSettings,
    ProxyConfig,
    ProxyRoute,
    proxied_client,
)
from patchbay_common.errors import redact
from patchbay_common.settings import CommonSettings, help_text, settings_config
from patchbay_common.testing.proxies import (
    ForwardProxy,
    Origin,
    SocksProxy,
    http_proxy,
    origin,
    socks_proxy,
    tls_origin,
)

PASSWORD = "pr0xy-s3cret-9f2"

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def site() -> Iterator[Origin]:
    with origin() as served:
        yield served


@pytest.fixture(scope="module")
def tls_site() -> Iterator[Origin]:
    with tls_origin() as served:
        yield served


@pytest.fixture(scope="module")
def forward() -> Iterator[ForwardProxy]:
    with http_proxy() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def forward_auth() -> Iterator[ForwardProxy]:
    with http_proxy("alice", PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks() -> Iterator[SocksProxy]:
    with socks_proxy() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_auth() -> Iterator[SocksProxy]:
    with socks_proxy("bob", PASSWORD) as proxy:
        yield proxy


def _policy(proxy_url: str | None, no_proxy: str | None = None, **env: str) -> EgressPolicy:
    """The test origin on loopback is allowed by name, as an operator would allow an internal host."""
    proxies = ProxyConfig.from_env(env, proxy_url=proxy_url, no_proxy=no_proxy)
    return EgressPolicy(allow_hosts=("localhost", "127.0.0.1"), proxies=proxies)


# --- reading the settings (no network) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "http", "https"),
    [
        ({"HTTPS_PROXY": "http://p:1"}, None, "http://p:1"),
        ({"http_proxy": "http://low:1", "HTTP_PROXY": "http://up:1"}, "http://low:1", None),
        ({"HTTP_PROXY": "http://up:1"}, "http://up:1", None),
        (
            {"ALL_PROXY": "socks5h://s:1080", "https_proxy": "http://h:3128"},
            "socks5h://s:1080",
            "http://h:3128",
        ),
        ({"all_proxy": "proxy.corp:8080"}, "http://proxy.corp:8080", "http://proxy.corp:8080"),
        ({"HTTP_PROXY": "http://up:1", "REQUEST_METHOD": "GET"}, None, None),  # httpoxy: ignored under CGI
        ({"HTTPS_PROXY": ""}, None, None),
    ],
)
def test_environment_variables_are_read_as_curl_reads_them(
    env: dict[str, str], http: str | None, https: str | None
) -> None:
    config = ProxyConfig.from_env(env)
    assert (config.http.url if config.http else None) == http
    assert (config.https.url if config.https else None) == https


def test_the_flag_wins_over_the_environment_and_no_proxy_still_applies() -> None:
    config = ProxyConfig.from_env(
        {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "internal.example"}, proxy_url="socks5://flag:1080"
    )
    assert config.route_for("https", "example.com") == ProxyRoute(
        "socks5", "flag", 1080, origin="--proxy-url"
    )
    assert config.route_for("http", "example.com") is not None
    assert config.route_for("https", "api.internal.example") is None


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "direct"),
    [
        ("*", "anything.example", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "www.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        (".example.com", "example.com", 443, True),
        (".example.com", "a.b.example.com", 443, True),
        ("*.example.com", "www.example.com", 443, True),
        ("EXAMPLE.com.", "www.Example.COM", 443, True),
        ("example.com:8443", "example.com", 8443, True),
        ("example.com:8443", "example.com", 443, False),
        ("10.0.0.5", "10.0.0.5", 80, True),
        ("10.0.0.5", "10.0.0.6", 80, False),
        ("10.0.0.0/8", "10.20.30.40", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("10.0.0.0/8", "ten.example", 80, False),  # names are not resolved for a CIDR, as in curl
        ("::1", "[::1]", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("fd00::/8", "fd12::1", 80, True),
        ("localhost, 127.0.0.1  .corp", "svc.corp", 80, True),
        ("localhost,,  ", "example.org", 80, False),
        ("*.", "example.org", 80, False),  # unreadable entries are skipped, not taken as '*'
    ],
)
def test_no_proxy_forms(no_proxy: str, host: str, port: int, direct: bool) -> None:
    config = ProxyConfig.from_env({}, proxy_url="http://proxy.corp:3128", no_proxy=no_proxy)
    assert (config.route_for("https", host, port) is None) is direct


@pytest.mark.parametrize(
    ("text", "scheme", "port"),
    [
        ("http://p", "http", 80),
        ("https://p", "https", 443),
        ("socks5://p", "socks5", 1080),
        ("p:3128", "http", 3128),
    ],
)
def test_proxy_urls_and_default_ports(text: str, scheme: str, port: int) -> None:
    route = ProxyRoute.parse(text)
    assert (route.scheme, route.host, route.port) == (scheme, "p", port)


@pytest.mark.parametrize(
    "text", [f"socks4://u:{PASSWORD}@p:1080", f"ftp://u:{PASSWORD}@p", f"http://u:{PASSWORD}@"]
)
def test_a_malformed_proxy_is_refused_without_showing_its_password(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        ProxyConfig.from_env({"HTTPS_PROXY": text})
    assert PASSWORD not in str(caught.value)
    assert "HTTPS_PROXY" in str(caught.value)


def test_credentials_are_hidden_wherever_the_proxy_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    route = ProxyRoute.parse(f"http://alice:{PASSWORD}@proxy.corp:3128")
    assert route.shown == "http://alice:***@proxy.corp:3128"
    assert PASSWORD not in repr(route) and PASSWORD not in str(route)
    assert PASSWORD in route.url  # what the HTTP client is given
    assert PASSWORD not in ProxyConfig.from_env({}, proxy_url=route.url).describe()
    assert PASSWORD not in redact(f"connecting via {route.url} failed")  # registered as a secret

    class Settings(EgressSettings, CommonSettings):
        """A server's flags."""

        model_config: SettingsConfigDict = settings_config("proxytest")

    monkeypatch.setenv("PATCHBAY_PROXYTEST_PROXY_URL", f"socks5h://carol:{PASSWORD}@p:1080")
    settings = Settings()
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    assert settings.egress_policy().proxies is not None
    assert PASSWORD not in help_text(Settings)
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        from patchbay_common.settings import parse_settings

        parse_settings(Settings, ["--help"])
    assert "--proxy-url" in out.getvalue() and PASSWORD not in out.getvalue()


def test_importing_the_guard_does_not_import_the_http_stack() -> None:
    """Settings import the guard at start-up; the HTTP stack waits for the first client (ssl comes with
    pydantic-settings' asyncio import either way)."""
    import subprocess
    import sys

    code = (
        "import sys, patchbay_common.egress;"
        "print(sorted(m for m in ('httpx2', 'httpcore2', 'h11', 'socksio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- through tinyproxy ------------------------------------------------------------------------------------


async def test_plain_http_goes_through_the_forward_proxy(site: Origin, forward: ForwardProxy) -> None:
    before = len(forward.requests())
    async with _policy(forward.url).client() as client:
        response = await client.get(site.url_for("localhost", "/via-http-proxy"))
    assert response.text == "origin saw GET /via-http-proxy"
    assert forward.requests()[before:] == [f"GET {site.url_for('localhost', '/via-http-proxy')}"]
    assert "tinyproxy" in site.seen[-1].headers.get("via", "")  # the origin heard from the proxy


async def test_https_is_tunnelled_with_connect_and_tls_still_checks_the_name(
    tls_site: Origin, forward: ForwardProxy
) -> None:
    before = len(forward.requests())
    options = {"verify": tls_site.client_context()}
    async with _policy(forward.url).client(transport_options=options) as client:
        response = await client.get(tls_site.url_for("localhost", "/secure"))
    assert response.text == "origin saw GET /secure"
    assert forward.requests()[before:] == [f"CONNECT localhost:{tls_site.port}"]


async def test_environment_proxy_and_no_proxy(site: Origin, forward: ForwardProxy) -> None:
    env = {"HTTP_PROXY": forward.url, "NO_PROXY": "127.0.0.1"}
    policy = _policy(None, **env)
    before, seen = len(forward.requests()), len(site.seen)
    async with policy.client() as client:
        via = await client.get(site.url_for("localhost", "/env-proxied"))
        direct = await client.get(site.url_for("127.0.0.1", "/no-proxy"))
    assert via.status_code == direct.status_code == 200
    assert forward.requests()[before:] == [f"GET {site.url_for('localhost', '/env-proxied')}"]
    assert [s.path for s in site.seen[seen:]] == ["/env-proxied", "/no-proxy"]
    assert "via" not in site.seen[-1].headers  # NO_PROXY: straight to the origin


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "http://10.1.2.3/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
    ],
)
async def test_the_guard_refuses_before_the_proxy_is_contacted(url: str, forward: ForwardProxy) -> None:
    log_before = forward.log.read_text()
    async with EgressPolicy(proxies=ProxyConfig.from_env({}, proxy_url=forward.url)).client() as client:
        with pytest.raises(EgressDenied):
            await client.get(url)
    assert forward.log.read_text() == log_before  # not even a connection to the proxy


async def test_a_url_cannot_choose_the_proxy_or_reach_it(site: Origin, forward: ForwardProxy) -> None:
    policy = EgressPolicy(proxies=ProxyConfig.from_env({}, proxy_url=forward.url))
    log_before = forward.log.read_text()
    async with policy.client() as client:
        for url in (
            forward.url + "/",  # the proxy itself, as a destination: loopback, refused
            f"socks5://127.0.0.1:{forward.port}/",
            f"http://user@127.0.0.1:{forward.port}/",
        ):
            with pytest.raises(EgressDenied):
                await client.get(url)
        # a URL with a proxy-looking part is still one destination, checked as such
        with pytest.raises(EgressDenied):
            await client.get(f"http://127.0.0.1:{site.port}/?proxy=http://elsewhere:3128")
    assert forward.log.read_text() == log_before


async def test_proxy_credentials_are_sent_and_never_shown(site: Origin, forward_auth: ForwardProxy) -> None:
    async with _policy(forward_auth.url).client() as client:
        response = await client.get(site.url_for("localhost", "/with-auth"))
    assert response.text == "origin saw GET /with-auth"
    wrong = forward_auth.url.replace(PASSWORD, "not-the-password-1")
    async with _policy(wrong).client() as client:
        refused = await client.get(site.url_for("localhost", "/wrong-auth"))
    assert refused.status_code in (401, 407)  # tinyproxy says 401 for a wrong proxy password
    assert "proxy-authorization" not in site.seen[-1].headers  # the origin never sees the proxy's credentials


# --- through microsocks ----------------------------------------------------------------------------------


async def test_socks5_sends_the_checked_address_and_socks5h_the_name(site: Origin, socks: SocksProxy) -> None:
    before = len(socks.targets())
    async with _policy(socks.url("socks5")).client() as client:
        pinned = await client.get(site.url_for("localhost", "/socks5"))
    async with _policy(socks.url("socks5h")).client() as client:
        remote = await client.get(site.url_for("localhost", "/socks5h"))
    assert pinned.text == "origin saw GET /socks5" and remote.text == "origin saw GET /socks5h"
    assert socks.targets()[before:] == [f"127.0.0.1:{site.port}", f"localhost:{site.port}"]
    assert site.seen[-1].headers["host"] == f"localhost:{site.port}"


async def test_https_over_socks5_pinned_still_verifies_the_name(tls_site: Origin, socks: SocksProxy) -> None:
    before = len(socks.targets())
    options = {"verify": tls_site.client_context()}
    async with _policy(socks.url("socks5")).client(transport_options=options) as client:
        response = await client.get(tls_site.url_for("localhost", "/tls-pinned"))
    assert response.text == "origin saw GET /tls-pinned"
    assert socks.targets()[before:] == [f"127.0.0.1:{tls_site.port}"]
    assert tls_site.seen[-1].headers["host"] == f"localhost:{tls_site.port}"


async def test_socks_with_credentials_and_refusals(site: Origin, socks_auth: SocksProxy) -> None:
    async with _policy(socks_auth.url("socks5h")).client() as client:
        response = await client.get(site.url_for("localhost", "/socks-auth"))
        assert response.text == "origin saw GET /socks-auth"
    before = len(socks_auth.targets())
    async with EgressPolicy(
        proxies=ProxyConfig.from_env({}, proxy_url=socks_auth.url("socks5h"))
    ).client() as client:
        for url in ("http://169.254.169.254/", site.url_for("localhost", "/refused")):
            with pytest.raises(EgressDenied):
                await client.get(url)
    assert socks_auth.targets()[before:] == []
    wrong = socks_auth.url("socks5h").replace(PASSWORD, "not-the-password-2")
    async with _policy(wrong).client() as client:
        with pytest.raises(httpx2.ProxyError) as caught:
            await client.get(site.url_for("localhost", "/bad-socks-auth"))
    assert PASSWORD not in str(caught.value) and "not-the-password-2" not in str(caught.value)


async def test_the_unguarded_client_routes_by_the_same_settings(site: Origin, socks: SocksProxy) -> None:
    before = len(socks.targets())
    config = ProxyConfig.from_env({"ALL_PROXY": socks.url("socks5h"), "NO_PROXY": "127.0.0.1"})
    async with proxied_client(config) as client:
        assert (await client.get(site.url_for("localhost", "/api"))).status_code == 200
        assert (await client.get(site.url_for("127.0.0.1", "/api-direct"))).status_code == 200
    assert socks.targets()[before:] == [f"localhost:{site.port}"]
