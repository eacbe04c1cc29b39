"""A real authorization server for the OAuth tests: `oidc-provider` (npm) on Node 22, on a free port.

`authorization_server(keys, clients)` starts `tests/oidc_provider.mjs` and yields an `AuthorizationServer`
whose `token(client, resource=, scope=)` runs the real client_credentials grant with an RFC 8707 resource
indicator, so each token is a JWT (or an opaque token) bound to one audience. `restart(keys)` starts the
same issuer again with other signing keys (key rotation). `scripts/setup.sh` installs oidc-provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jwt
import node_tools
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from patchbay_common.testing.components import free_port

SCRIPT = Path(__file__).resolve().parent / "oidc_provider.mjs"
SCOPES = ("mcp:read", "mcp:write", "calendar:read")


def signing_key(kind: str, kid: str) -> dict[str, Any]:
    """A new private JWK: kind RSA, EC (P-256) or OKP (Ed25519)."""
    key: Any
    if kind == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    elif kind == "EC":
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig"}


@dataclass(frozen=True)
class OAuthClient:
    """A client registered at the provider and how its tokens are made."""

    client_id: str
    alg: str = "ES256"
    ttl: int = 300
    format: str = "jwt"
    client_secret: str = field(default="")
    hmac_key: str = ""

    def config(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret or f"secret-of-{self.client_id}-0123456789",
            "alg": self.alg,
            "ttl": self.ttl,
            "format": self.format,
            "hmac_key": self.hmac_key,
        }


@dataclass
class AuthorizationServer:
    """A running oidc-provider: its issuer URL, and the grant that mints tokens."""

    port: int
    clients: dict[str, dict[str, Any]]
    process: subprocess.Popen[bytes] | None = None
    config_dir: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """`http://127.0.0.1:PORT`, as the provider names itself in tokens and metadata."""
        return f"http://127.0.0.1:{self.port}"

    def secret(self, client: str) -> str:
        """The client secret of `client`."""
        return str(self.clients[client]["client_secret"])

    def token(self, client: str, *, resource: str | None, scope: str = "mcp:read") -> str:
        """An access token from the client_credentials grant for `resource` (RFC 8707) with `scope`."""
        form = {"grant_type": "client_credentials", "scope": scope}
        if resource is not None:
            form["resource"] = resource
        response = httpx2.post(
            f"{self.issuer}/token", data=form, auth=(client, self.secret(client)), timeout=10.0
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def start(self, keys: Sequence[dict[str, Any]]) -> None:
        """Start (or start again) the provider on the same port with `keys` as its signing keys."""
        module = node_tools.require(node_tools.OIDC_PROVIDER)
        self.stop()
        self.keys = list(keys)
        config = Path(self.config_dir) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "keys": list(keys),
                    "clients": list(self.clients.values()),
                    "scopes": SCOPES,
                }
            )
        )
        env = {**os.environ, "PATCHBAY_OIDC_PROVIDER": str(module)}
        self.process = subprocess.Popen(
            [node_tools.node(), str(SCRIPT), str(config)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening"):
            self.process.wait(5)
            assert self.process.stderr is not None
            raise AssertionError(f"oidc-provider did not start: {line}{self.process.stderr.read().decode()}")

    def stop(self) -> None:
        """Stop the provider (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.process = None


@contextmanager
def authorization_server(
    keys: Sequence[dict[str, Any]], clients: Sequence[OAuthClient]
) -> Iterator[AuthorizationServer]:
    """A running oidc-provider with `keys` and `clients`, stopped afterwards."""
    with tempfile.TemporaryDirectory() as config_dir:
        server = AuthorizationServer(
            port=free_port(), clients={c.client_id: c.config() for c in clients}, config_dir=config_dir
        )
        try:
            server.start(keys)
            started = time.monotonic()
            while time.monotonic() - started < 10:
                try:
                    httpx2.get(f"{server.issuer}/.well-known/openid-configuration", timeout=1.0)
                    break
                except httpx2.TransportError:
                    time.sleep(0.05)
            yield server
        finally:
            server.stop()
