"""patchbay as an OAuth 2.1 resource server, against a real authorization server (oidc-provider on Node 22).

Tokens come from the provider's client_credentials grant with RFC 8707 resource indicators, so each is a
JWT (or an opaque token) bound to one server's URL. What a client notices is checked: the metadata
document, the 401/403 challenges and their parameters, which tools a token sees and may call, and which
principal a call is made for, over streamable HTTP (sessions and --stateless) and SSE, in both eras.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from authorization_server import AuthorizationServer, OAuthClient, authorization_server, signing_key
from cryptography.hazmat.primitives.asymmetric import ec

from patchbay_common.testing.clients import ERAS, Era, HttpServer, Launch, connect, http_server

pytestmark = pytest.mark.anyio

SERVER = Launch(sys.executable, [str(Path(__file__).resolve().parent / "oauth_server.py")])
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CLIENTS = [
    OAuthClient("alice"),
    OAuthClient("bob"),
    OAuthClient("rsa", alg="RS256"),
    OAuthClient("pss", alg="PS256"),
    OAuthClient("ed", alg="EdDSA"),
    OAuthClient("hmac", alg="HS256", hmac_key="k" * 32),
    OAuthClient("short", ttl=3),
    OAuthClient("opaque", format="opaque"),
    OAuthClient("introspector"),
]


def call_body(tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments or {}},
    }


def post(server: HttpServer, token: str | None, body: Any = None) -> httpx2.Response:
    headers = dict(ACCEPT)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(server.url, json=body or call_body("whoami"), headers=headers, timeout=10.0)


def challenge(response: httpx2.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v", ...` header."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', header))


@pytest.fixture(scope="module")
def provider() -> Iterator[AuthorizationServer]:
    keys = [signing_key("EC", "ec-1"), signing_key("RSA", "rsa-1"), signing_key("OKP", "ed-1")]
    with authorization_server(keys, CLIENTS) as server:
        yield server


@pytest.fixture(scope="module")
def other_provider() -> Iterator[AuthorizationServer]:
    clients = [OAuthClient("alice"), OAuthClient("bob")]
    with authorization_server([signing_key("EC", "other-1")], clients) as server:
        yield server


@pytest.fixture(scope="module")
def introspection_client(provider: AuthorizationServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oauth") / "client"
    path.write_text(f"introspector:{provider.secret('introspector')}\n")
    return path


@pytest.fixture(scope="module")
def stateful(provider: AuthorizationServer, introspection_client: Path) -> Iterator[HttpServer]:
    flags = ["--oauth-issuer", provider.issuer, "--oauth-client-file", str(introspection_client)]
    with http_server(SERVER, "streamable-http", *flags, "--oauth-leeway", "1") as server:
        yield server


@pytest.fixture(scope="module")
def stateless(provider: AuthorizationServer) -> Iterator[HttpServer]:
    with http_server(SERVER, "streamable-http", "--stateless", "--oauth-issuer", provider.issuer) as server:
        yield server


def token(provider: AuthorizationServer, client: str, server: HttpServer, scope: str = "mcp:read") -> str:
    return provider.token(client, resource=server.url, scope=scope)


async def whoami(server: HttpServer, bearer: str, era: Era) -> str:
    async with connect(server, era=era, headers={"Authorization": f"Bearer {bearer}"}) as client:
        result = await client.call_tool("whoami", {})
        assert not result.is_error, result
        return str(result.content[0].text)  # type: ignore[union-attr]


# --- the metadata document and the challenges ------------------------------------------------------------


def test_metadata_and_challenges(stateful: HttpServer, provider: AuthorizationServer) -> None:
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        document = httpx2.get(stateful.base_url + path).json()
        assert document == {
            "resource": stateful.url,
            "authorization_servers": [provider.issuer],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "patchbay-oauth-test",
        }
    metadata = f"{stateful.base_url}/.well-known/oauth-protected-resource/mcp"
    missing = post(stateful, None)
    assert missing.status_code == 401
    assert challenge(missing) == {"resource_metadata": metadata, "scope": "mcp:read"}
    garbage = post(stateful, "not-a-token")
    assert garbage.status_code == 401
    assert challenge(garbage)["error"] == "invalid_token"
    assert challenge(garbage)["resource_metadata"] == metadata
    in_query = httpx2.post(
        f"{stateful.url}?access_token={token(provider, 'alice', stateful)}", json={}, headers=ACCEPT
    )
    assert in_query.status_code == 401  # never read from the query string
    assert httpx2.get(stateful.base_url + "/healthz").status_code == 200


# --- tokens that work, and tokens that must not ----------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_every_allowed_algorithm(provider: AuthorizationServer, stateful: HttpServer, era: Era) -> None:
    for client in ("alice", "rsa", "pss", "ed"):  # ES256, RS256, PS256, EdDSA
        bearer = token(provider, client, stateful)
        assert f"'principal', '{client}', '{provider.issuer}', '{client}'" in await whoami(
            stateful, bearer, era
        )


def forged(key: Any, alg: str, claims: dict[str, Any], kid: str | None = "ec-1") -> str:
    headers = {"typ": "at+jwt", **({"kid": kid} if kid else {})}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_refused_tokens(
    provider: AuthorizationServer,
    other_provider: AuthorizationServer,
    stateful: HttpServer,
    stateless: HttpServer,
) -> None:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": stateful.url,
        "sub": "mallory",
        "exp": now + 300,
        "scope": "mcp:write",
    }
    stranger = ec.generate_private_key(ec.SECP256R1())
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "typ": "at+jwt"}, claims)
        )
        + "."
    )
    cases = {
        "audience": token(provider, "alice", stateless),  # a token for server B replayed at server A
        "issuer not accepted": token(other_provider, "alice", stateful),
        "'HS256' is not accepted": token(provider, "hmac", stateful),
        "'none' is not accepted": unsigned,
        "unknown kid": forged(stranger, "ES256", claims, kid="not-published"),
        "bad signature": forged(stranger, "ES256", claims, kid="ec-1"),
        "audience is not this server": provider.token("opaque", resource=stateless.url),  # introspected
        "not active": "opaque-token-the-provider-never-issued",
        "no 'exp'": forged(
            stranger, "ES256", {k: v for k, v in claims.items() if k != "exp"}, kid="not-here"
        ),
    }
    for expected, bearer in cases.items():
        response = post(stateful, bearer)
        assert response.status_code == 401, (expected, response.text)
        params = challenge(response)
        assert params["error"] == "invalid_token"
        if expected != "no 'exp'":  # the key is looked up first; any refusal will do
            assert expected in params["error_description"], (expected, params)
        assert bearer not in response.text and bearer not in response.headers["www-authenticate"]
    # The same replay the other way round, and at a stateless server.
    assert post(stateless, token(provider, "alice", stateful)).status_code == 401
    expired = token(provider, "short", stateful)
    assert post(stateful, expired).status_code == 400  # valid now (400: a call needs a session)...
    exp = jwt.decode(expired, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp + 1.5 - time.time()))  # ...then past exp + the 1 s leeway of this server
    response = post(stateful, expired)
    assert response.status_code == 401 and "expired" in challenge(response)["error_description"]


async def test_opaque_tokens_by_introspection(provider: AuthorizationServer, stateful: HttpServer) -> None:
    bearer = provider.token("opaque", resource=stateful.url, scope="mcp:read")
    assert bearer.count(".") == 0  # not a JWT
    text = await whoami(stateful, bearer, "modern")
    assert f"'principal', 'opaque', '{provider.issuer}', None" in text and "scopes=mcp:read" in text
    assert post(stateful, bearer).status_code == 400  # past auth (400: a call needs a session)


# --- scopes: listing, the 403 challenge, stepping up -------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_scopes_and_step_up(provider: AuthorizationServer, stateful: HttpServer, era: Era) -> None:
    reader = token(provider, "alice", stateful, "mcp:read")
    headers = {"Authorization": f"Bearer {reader}"}
    async with connect(stateful, era=era, headers=headers) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["whoami"]
    refused = post(stateful, reader, call_body("remember", {"text": "x"}))
    assert refused.status_code == 403
    params = challenge(refused)
    assert params["error"] == "insufficient_scope"
    assert params["scope"].split() == ["mcp:read", "mcp:write"]
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
    assert "remember" in params["error_description"]
    # A token with neither scope may do nothing.
    nothing = provider.token("alice", resource=stateful.url, scope="calendar:read")
    response = post(stateful, nothing)
    assert response.status_code == 403 and challenge(response)["scope"] == "mcp:read"
    # Step up: the same client with the write scope lists and calls the write tool.
    writer = token(provider, "alice", stateful, "mcp:read mcp:write")
    async with connect(stateful, era=era, headers={"Authorization": f"Bearer {writer}"}) as client:
        assert sorted(t.name for t in (await client.list_tools()).tools) == ["remember", "whoami"]
        result = await client.call_tool("remember", {"text": f"note-{era}"})
        assert not result.is_error and "kept" in result.content[0].text  # type: ignore[union-attr]
    assert f"note-{era}" in await whoami(stateful, reader, era)  # same principal, read access


# --- principals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("mode", ["sessions", "stateless"])
async def test_two_subjects_two_principals(
    provider: AuthorizationServer, stateful: HttpServer, stateless: HttpServer, era: Era, mode: str
) -> None:
    server = stateful if mode == "sessions" else stateless
    alice = await whoami(server, token(provider, "alice", server), era)
    bob = await whoami(server, token(provider, "bob", server), era)
    assert f"principal=('principal', 'alice', '{provider.issuer}', 'alice')" in alice
    assert f"principal=('principal', 'bob', '{provider.issuer}', 'bob')" in bob
    again = await whoami(server, token(provider, "alice", server), era)  # a new token, the same principal
    assert again.split(" scopes=")[0] == alice.split(" scopes=")[0]


async def test_session_is_bound_to_its_principal(provider: AuthorizationServer, stateful: HttpServer) -> None:
    alice, bob = token(provider, "alice", stateful), token(provider, "bob", stateful)
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = post(stateful, alice, init)
    session = opened.headers["mcp-session-id"]
    headers = {**ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    stolen = httpx2.post(stateful.url, json=body, headers={**headers, "Authorization": f"Bearer {bob}"})
    assert stolen.status_code == 404  # bob cannot use alice's session


def test_static_token_names_no_one(tmp_path: Path) -> None:
    with http_server(SERVER, "streamable-http", "--auth-token", "static-secret-123") as server:
        missing = post(server, None)
        assert missing.status_code == 401 and challenge(missing) == {"realm": "patchbay"}
        wrong = post(server, "static-secret-124")
        assert wrong.status_code == 401 and challenge(wrong) == {
            "realm": "patchbay",
            "error": "invalid_token",
            "error_description": "wrong bearer token",
        }
        # A shared secret names no one: a handshake-era client keeps its own connection's state, and only
        # 2026-era requests (which have no connection) fall to the token's one principal.
        legacy = anyio.run(whoami, server, "static-secret-123", "legacy")
        again = anyio.run(whoami, server, "static-secret-123", "legacy")
        assert "principal=('connection', " in legacy and "scopes=mcp:read mcp:write" in legacy
        assert legacy.split(" scopes")[0] != again.split(" scopes")[0]
        modern = anyio.run(whoami, server, "static-secret-123", "modern")
        assert "principal=('principal', 'static-token', None, 'static-token')" in modern
        assert "scopes=mcp:read mcp:write" in modern
        assert httpx2.get(server.base_url + "/.well-known/oauth-protected-resource").status_code == 401


# --- key rotation, over SSE ---------------------------------------------------------------------------------


def test_key_rotation_over_sse(other_provider: AuthorizationServer) -> None:
    """Another issuer's keys change while a server that trusts it runs (the other tests only mint there)."""
    provider = other_provider
    first = provider.keys[0]
    second, third = (signing_key("EC", f"rot-{n}") for n in (2, 3))
    with http_server(SERVER, "sse", "--oauth-issuer", provider.issuer) as server:

        def works(bearer: str) -> bool:
            return "principal=" in anyio.run(whoami, server, bearer, "legacy")

        def refused(bearer: str) -> str:
            response = httpx2.get(server.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
            assert response.status_code == 401, response.status_code
            return challenge(response)["error_description"]

        old = provider.token("alice", resource=server.url)
        assert works(old)
        provider.start([second, first])  # a new signing key, the old one still published
        new = provider.token("bob", resource=server.url)
        assert jwt.get_unverified_header(new)["kid"] == "rot-2" != jwt.get_unverified_header(old)["kid"]
        assert works(new) and works(old)  # the new kid made the server fetch the key set again
        provider.start([third])  # the old keys withdrawn
        newest = provider.token("alice", resource=server.url)
        assert works(newest)
        assert "unknown kid" in refused(old) and "unknown kid" in refused(new)


# --- operator mistakes: one line each, before anything listens ----------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--oauth-resource", "https://mcp.example/mcp"], "--oauth-resource needs --oauth-issuer"),
        (["--oauth-issuer", "https://a.example", "--auth-token", "t0123456789"], "exclude each other"),
        (["--oauth-issuer", "http://auth.example"], "must be an https:// URL"),
        (["--oauth-issuer", "https://a.example", "--host", "0.0.0.0"], "--oauth-resource is needed"),
        (
            ["--oauth-issuer", "https://a.example", "--oauth-resource", "mcp.example/mcp"],
            "absolute http(s) URL",
        ),
        (
            ["--oauth-issuer", "https://a.example", "--oauth-introspection-url", "https://a.example/i"],
            "needs --oauth-client-file",
        ),
        (
            ["--oauth-issuer", "https://a.example", "--oauth-read-scope", "x", "--oauth-write-scope", "x"],
            "must differ",
        ),
    ],
)
def test_operator_mistakes(flags: list[str], expected: str) -> None:
    from patchbay_common.auth import auth_setup
    from patchbay_common.settings import CommonSettings

    settings = CommonSettings(_cli_parse_args=["--transport", "streamable-http", *flags])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=re.escape(expected)):
        auth_setup(settings)


def test_defaults_name_the_endpoint() -> None:
    from patchbay_common.auth import auth_setup, metadata_url
    from patchbay_common.settings import CommonSettings

    args = ["--transport", "sse", "--port", "9001", "--oauth-issuer", "http://127.0.0.1:1"]
    setup = auth_setup(CommonSettings(_cli_parse_args=args))  # type: ignore[call-arg]
    assert setup is not None and setup.policy.resource == "http://127.0.0.1:9001/sse"
    assert (
        metadata_url("https://x.example/team/mcp")
        == "https://x.example/.well-known/oauth-protected-resource/team/mcp"
    )


# --- the same rule inside the server, for anything that reaches it without the HTTP check ------------------


@pytest.mark.parametrize("era", ERAS)
async def test_scope_gate_inside_the_server(era: Era) -> None:
    import oauth_server
    from mcp.server.auth.middleware.auth_context import auth_context_var
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken

    from patchbay_common.app import _tool_access
    from patchbay_common.auth import ResourcePolicy, ScopeGate

    server = oauth_server.build(oauth_server.Settings(_cli_parse_args=[]))  # type: ignore[call-arg]
    policy = ResourcePolicy("http://127.0.0.1:1/mcp", ("http://127.0.0.1:2",), "mcp:read", "mcp:write")
    server.middleware.append(ScopeGate(policy, lambda name: _tool_access(server, name)))
    reader = AccessToken(token="x", client_id="carol", subject="carol", scopes=["mcp:read"])
    reset = auth_context_var.set(AuthenticatedUser(reader))
    try:
        async with connect(server, era=era) as client:
            assert [t.name for t in (await client.list_tools()).tools] == ["whoami"]
            with pytest.raises(Exception, match="remember needs the mcp:write scope"):
                await client.call_tool("remember", {"text": "x"})
    finally:
        auth_context_var.reset(reset)
    async with connect(server, era=era) as client:  # no token (stdio, no auth): nothing filtered
        assert sorted(t.name for t in (await client.list_tools()).tools) == ["remember", "whoami"]
