"""What OAuth costs per request: a tools/call with a JWT against the same call with the static token.

    uv run python bench/auth_overhead.py [--rounds 4 --seconds 5 --connections 8]

Needs wrk (Debian package `wrk`) and oidc-provider (`make setup`). A real authorization server
(oidc-provider on Node 22) issues an ES256 access token bound to the OAuth server's URL; two copies of
the test server (tests/oauth_server.py, streamable HTTP, --stateless --json-response, so one POST is one
whole call) run side by side, one with --oauth-issuer and one with --auth-token. wrk drives the same
tools/call at both, in interleaved rounds so machine noise hits both alike, and the ratio of requests/s is
printed. Then, in process: the cost of validating a token already seen (what every request but a
token's first pays: a dictionary lookup), and of a first validation (signature, claims) per algorithm.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import timeit
from contextlib import AsyncExitStack
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from authorization_server import OAuthClient, authorization_server, signing_key  # noqa: E402

from patchbay_common.auth import (  # noqa: E402
    AuthSetup,
    HttpAuth,
    OAuthVerifier,
    ResourcePolicy,
    StaticTokenVerifier,
)
from patchbay_common.testing.clients import Launch, http_server  # noqa: E402

SERVER = Launch(sys.executable, [str(ROOT / "tests" / "oauth_server.py")])
STATIC = "static-bench-token-0123456789"
LUA = """
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wrk(url: str, token: str, seconds: int, connections: int, workdir: Path) -> float:
    """Requests/s wrk reaches at `url` with `token` (non-2xx answers make the run fail)."""
    script = workdir / "call.lua"
    script.write_text(LUA % token)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Non-2xx" not in out, out
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def in_process(issuer: str, resource: str, tokens: dict[str, str]) -> dict[str, float]:
    """Microseconds per validation: a token already seen (warm), and a first one per algorithm (cold)."""
    policy = ResourcePolicy(resource, (issuer,), "mcp:read", "mcp:write")
    verifier = OAuthVerifier(policy, leeway=30)
    figures: dict[str, float] = {}

    async def run() -> None:
        for token in tokens.values():
            await verifier.verify_token(token)  # fetches discovery and the key set once
        warm = tokens["ES256"]
        loops = 20000

        async def many() -> None:
            for _ in range(loops):
                await verifier.verify_token(warm)

        batches = []
        for _ in range(5):  # the best of 5 batches: what the check costs, not what the neighbours took
            started = timeit.default_timer()
            await many()
            batches.append((timeit.default_timer() - started) / loops * 1e6)
        figures["warm (token seen before)"] = min(batches)
        for alg, token in tokens.items():
            samples = []
            for _ in range(200):
                started = timeit.default_timer()
                await verifier._verify_jwt(token, __import__("time").time())
                samples.append(timeit.default_timer() - started)
            figures[f"first sight, {alg} (signature + claims)"] = min(samples) * 1e6
        # The whole HTTP check of one request (header, cache, principal, context) around an empty app.
        static = StaticTokenVerifier(STATIC, ("mcp:read", "mcp:write"))
        for name, setup, bearer in (
            ("HTTP check, JWT seen before", AuthSetup(verifier, policy, oauth=True), warm),
            ("HTTP check, static token", AuthSetup(static, policy, oauth=False), STATIC),
        ):
            figures[name] = min([await _through_middleware(setup, bearer, loops // 4) for _ in range(5)])
        await verifier.aclose()

    anyio.run(run)
    return figures


async def in_process_calls(
    issuer: str, resource: str, jwt_token: str, writer_token: str, calls: int = 200
) -> dict[str, float]:
    """Microseconds per whole tools/call through the ASGI app (no sockets), OAuth vs static, best of 5."""
    import httpx2
    import oauth_server

    from patchbay_common.app import http_app

    common = ["--transport", "streamable-http", "--stateless", "--json-response", "--log-level", "WARNING"]
    setups = {
        "oauth (JWT, ES256)": (["--oauth-issuer", issuer, "--oauth-resource", resource], jwt_token),
        "static token": (["--auth-token", STATIC], STATIC),
        "oauth, write scope": (["--oauth-issuer", issuer, "--oauth-resource", resource], writer_token),
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    best: dict[str, float] = {}
    async with AsyncExitStack() as stack:
        clients = {}
        for name, (flags, bearer) in setups.items():
            settings = oauth_server.Settings(_cli_parse_args=[*common, *flags])  # type: ignore[call-arg]
            server = oauth_server.build(settings)
            app = http_app(server, settings)
            await stack.enter_async_context(server.session_manager.run())
            transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
            client = httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
            await stack.enter_async_context(client)
            clients[name] = (client, {**headers, "Authorization": f"Bearer {bearer}"})
        for _ in range(5):
            for name, (client, sent) in clients.items():
                started = timeit.default_timer()
                for _ in range(calls):
                    response = await client.post("/mcp", json=body, headers=sent)
                    assert response.status_code == 200, response.text
                took = (timeit.default_timer() - started) / calls * 1e6
                best[name] = min(best.get(name, took), took)
    return best


async def _through_middleware(setup: AuthSetup, bearer: str, loops: int) -> float:
    """Microseconds per GET through `HttpAuth` to an app that does nothing (write scope: no body read)."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        return None

    middleware = HttpAuth(app, setup, lambda name: None)
    headers = [(b"authorization", f"Bearer {bearer}".encode()), (b"accept", b"application/json")]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        raise AssertionError(f"refused: {message}")

    started = timeit.default_timer()
    for _ in range(loops):
        scope = {"type": "http", "method": "GET", "path": "/mcp", "headers": headers}
        await middleware(scope, receive, send)
    return (timeit.default_timer() - started) / loops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-wrk", action="store_true", help="only the in-process figures")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    keys = [signing_key("EC", "ec-1"), signing_key("RSA", "rsa-1"), signing_key("OKP", "ed-1")]
    clients = [OAuthClient("bench"), OAuthClient("rsa", alg="RS256"), OAuthClient("ed", alg="EdDSA")]
    flags = ["--stateless", "--json-response", "--log-level", "WARNING"]
    with (
        tempfile.TemporaryDirectory() as workdir,
        authorization_server(keys, clients) as provider,
        http_server(
            SERVER, "streamable-http", *flags, "--oauth-issuer", provider.issuer, startup_timeout=120
        ) as oauth,
        http_server(SERVER, "streamable-http", *flags, "--auth-token", STATIC, startup_timeout=120) as static,
    ):
        jwt_token = provider.token("bench", resource=oauth.url)
        rates: dict[str, list[float]] = {"oauth (JWT, ES256)": [], "static token": []}
        for _ in range(0 if args.no_wrk else args.rounds):
            rates["oauth (JWT, ES256)"].append(
                wrk(oauth.url, jwt_token, args.seconds, args.connections, Path(workdir))
            )
            rates["static token"].append(
                wrk(static.url, STATIC, args.seconds, args.connections, Path(workdir))
            )
        tokens = {
            "ES256": jwt_token,
            "RS256": provider.token("rsa", resource=oauth.url),
            "EdDSA": provider.token("ed", resource=oauth.url),
        }
        micro = in_process(provider.issuer, oauth.url, tokens)
        writer = provider.token("bench", resource=oauth.url, scope="mcp:read mcp:write")
        whole = anyio.run(in_process_calls, provider.issuer, oauth.url, jwt_token, writer)
    medians = {name: statistics.median(values) if values else 0.0 for name, values in rates.items()}
    ratio = medians["oauth (JWT, ES256)"] / medians["static token"] if medians["static token"] else 0.0
    print(
        f"tools/call over streamable HTTP (--stateless --json-response), wrk -t2 -c{args.connections}, "
        f"{args.rounds} interleaved rounds of {args.seconds} s:"
    )
    for name, values in rates.items():
        print(f"  {name:22} {medians[name]:8.0f} req/s (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    print(f"  ratio oauth/static     {ratio:8.3f}")
    print("token validation in process (microseconds per request, best of several batches):")
    for name, value in micro.items():
        print(f"  {name:42} {value:8.2f} us")
    print("whole tools/call through the ASGI app in process (no sockets), microseconds, best of 5 x 200")
    print("(a read-scope token has its POST body read for the scope check; a write-scope token does not):")
    for name, value in whole.items():
        print(f"  {name:22} {value:8.0f} us")
    print(f"  ratio oauth/static     {whole['oauth (JWT, ES256)'] / whole['static token']:8.3f}")
    print(json.dumps({"req_per_s": medians, "ratio": ratio, "validation_us": micro, "call_us": whole}))


if __name__ == "__main__":
    main()
