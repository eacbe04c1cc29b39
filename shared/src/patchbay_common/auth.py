"""HTTP authentication: an OAuth 2.1 resource server (MCP authorization spec), or one static bearer token.

With `--oauth-issuer` a server over SSE or streamable HTTP is an OAuth 2.1 resource server as the MCP
authorization spec (2025-06-18 and later) wants it:

- `/.well-known/oauth-protected-resource` (and the RFC 9728 path-suffixed form, e.g. `…/mcp`) names this
  resource, its authorization servers, its scopes and `bearer_methods_supported: ["header"]`;
- a request without a token gets 401 with `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`, a
  bad token the same with `error="invalid_token"`;
- access tokens are JWTs checked against the issuer's JWKS (found through its RFC 8414 / OpenID discovery
  document, cached, fetched again on an unknown `kid` at a bounded rate so key rotation works), with the
  algorithms allow-listed (RS256, PS256, ES256, EdDSA: never `none` or HMAC), `iss` among the accepted
  issuers, `aud` holding this server's canonical URL (RFC 8707), `exp`/`nbf`/`iat` with a small leeway;
  opaque tokens are checked by introspection (RFC 7662) when a client for it is configured;
- scopes map to access: the read scope lists and calls read tools; a tool whose access is a write tier
  needs the write scope. A `tools/call` of such a tool without it gets HTTP 403 with
  `WWW-Authenticate: Bearer error="insufficient_scope", scope="<read> <write>"`, so a client can step up;
  `tools/list` shows such a token only the tools it may call.

The validated token reaches the SDK the way its own auth does (`scope["user"]` for session ownership,
`auth_context_var` for `get_access_token()`), so `principals.principal_key` keys per-user state by
(client, issuer, subject) in both protocol eras and both HTTP modes. The static `--auth-token` is the
simple option: every holder is one principal (client and subject "static-token") with every scope.

Tokens are never forwarded anywhere (no code here sends them except to the issuer's introspection
endpoint), never logged (`AccessToken.token` holds a fingerprint, not the token; JWTs and Bearer values
are redacted by shape in `errors.redact`), and never read from the query string.

The issuer is the operator's choice (often on a private network), so discovery, JWKS and introspection
requests do not go through `egress` (which guards model-chosen URLs); they require https except on a
loopback host, follow no redirects, and have short timeouts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ListToolsResult
from starlette.authentication import AuthCredentials

from patchbay_common.errors import register_secret
from patchbay_common.logs import get_logger
from patchbay_common.principals import STATIC_TOKEN_CLIENT
from patchbay_common.toolsets import READ

__all__ = [
    "ALGORITHMS",
    "STATIC_CLIENT",
    "AuthServerUnavailable",
    "AuthSetup",
    "HttpAuth",
    "InvalidToken",
    "OAuthVerifier",
    "ResourcePolicy",
    "ScopeGate",
    "StaticTokenVerifier",
    "auth_setup",
    "metadata_url",
]

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})
"""Signature algorithms accepted for access tokens: asymmetric only (never `none`, never HS*)."""

STATIC_CLIENT = STATIC_TOKEN_CLIENT
"""Client id and subject of every holder of the static `--auth-token`: one principal."""

_ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
_KEY_TYPES = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
}
_METADATA_PREFIX = "/.well-known/oauth-protected-resource"
_MAX_INSPECTED_BODY = 4 * 1024 * 1024  # the SDK refuses larger bodies itself (413)
_FETCH_TIMEOUT = 5.0
_JWKS_MAX_AGE = 600.0  # fetch the key set again after this long, so removed keys stop working
_REFETCH_BURST = 3  # re-fetches on an unknown kid allowed at once...
_REFETCH_EVERY = 10.0  # ...and one more per this many seconds after that
_TOKEN_CACHE_SIZE = 10_000
_TOKEN_CACHE_SECONDS = 300.0
_INTROSPECTION_SECONDS = 30.0
_NEGATIVE_SECONDS = 5.0

log = get_logger("patchbay.auth")


class InvalidToken(Exception):
    """The token was refused; the message says why (never the token) and goes into `error_description`."""


class AuthServerUnavailable(Exception):
    """The authorization server could not be asked (discovery, JWKS, introspection): a 503, not a 401."""


# --- configuration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourcePolicy:
    """This resource server's identity and scopes: what the metadata document and the challenges say."""

    resource: str
    issuers: tuple[str, ...]
    read_scope: str
    write_scope: str
    name: str = ""

    @property
    def metadata_url(self) -> str:
        """The RFC 9728 metadata URL of `resource` (the well-known path inserted before its path)."""
        return metadata_url(self.resource)

    def document(self) -> dict[str, Any]:
        """The protected-resource metadata document (RFC 9728 §2)."""
        doc: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": list(self.issuers),
            "scopes_supported": [self.read_scope, self.write_scope],
            "bearer_methods_supported": ["header"],
        }
        if self.name:
            doc["resource_name"] = self.name
        return doc

    def may_write(self, scopes: Iterable[str]) -> bool:
        """Whether a token with `scopes` may call write tools."""
        return self.write_scope in scopes

    def may_read(self, scopes: Iterable[str]) -> bool:
        """Whether a token with `scopes` may use the server at all (the write scope includes reading)."""
        given = set(scopes)
        return self.read_scope in given or self.write_scope in given


def metadata_url(resource: str) -> str:
    """`https://host/mcp` -> `https://host/.well-known/oauth-protected-resource/mcp` (RFC 9728 §3.1)."""
    parts = urlsplit(resource)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, _METADATA_PREFIX + path, "", ""))


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_fetch_url(url: str, flag: str) -> str:
    """`url` if it is https, or http on a loopback host; ValueError naming `flag` otherwise."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))
    if secure and parts.hostname:
        return url
    raise ValueError(f"{flag}: {url!r} must be an https:// URL (http:// only on a loopback host)")


@dataclass
class AuthSetup:
    """What `http_app` needs to authenticate: the verifier, the policy, and whether it is OAuth."""

    verifier: OAuthVerifier | StaticTokenVerifier
    policy: ResourcePolicy
    oauth: bool


def auth_setup(settings: Any, server_name: str = "") -> AuthSetup | None:
    """The authentication `settings` ask for (None: none); ValueError with one line on a bad combination.

    `settings` is a `CommonSettings` (typed loosely to keep this module free of an import cycle).
    """
    read_scope = settings.oauth_read_scope
    write_scope = settings.oauth_write_scope
    issuers = tuple(dict.fromkeys(settings.oauth_issuer))  # exact strings: `iss` is compared as given
    token = settings.bearer_token()
    if not issuers:
        extra = [
            flag
            for flag, value in (
                ("--oauth-resource", settings.oauth_resource),
                ("--oauth-jwks-url", settings.oauth_jwks_url),
                ("--oauth-introspection-url", settings.oauth_introspection_url),
                ("--oauth-client-file", settings.oauth_client_file),
            )
            if value
        ]
        if extra:
            raise ValueError(
                f"{extra[0]} needs --oauth-issuer (the authorization server whose tokens to accept)"
            )
        if not token:
            return None
        policy = ResourcePolicy("", (), read_scope, write_scope, server_name)
        return AuthSetup(StaticTokenVerifier(token, (read_scope, write_scope)), policy, oauth=False)
    if token:
        raise ValueError("--auth-token and --oauth-issuer exclude each other: choose one way to authenticate")
    for issuer in issuers:
        _check_fetch_url(issuer, "--oauth-issuer")
    if read_scope == write_scope:
        raise ValueError("--oauth-read-scope and --oauth-write-scope must differ")
    resource = settings.oauth_resource or _default_resource(settings)
    parts = urlsplit(resource)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"--oauth-resource: {resource!r} must be an absolute http(s) URL without query or fragment"
        )
    if settings.oauth_jwks_url and len(issuers) > 1:
        raise ValueError("--oauth-jwks-url applies to one issuer; with several, each one's discovery is used")
    jwks_url = (
        _check_fetch_url(settings.oauth_jwks_url, "--oauth-jwks-url") if settings.oauth_jwks_url else None
    )
    client = None
    if settings.oauth_client_file is not None:
        client = _read_client(settings.oauth_client_file)
    elif settings.oauth_introspection_url:
        raise ValueError(
            "--oauth-introspection-url needs --oauth-client-file (the client that may introspect)"
        )
    introspection = settings.oauth_introspection_url
    if introspection:
        _check_fetch_url(introspection, "--oauth-introspection-url")
    policy = ResourcePolicy(resource, issuers, read_scope, write_scope, server_name)
    verifier = OAuthVerifier(
        policy,
        jwks_url=jwks_url,
        introspection_url=introspection,
        client=client,
        leeway=settings.oauth_leeway,
    )
    return AuthSetup(verifier, policy, oauth=True)


def _default_resource(settings: Any) -> str:
    """`http://HOST:PORT/mcp` (or `/sse`) from the bind address; a wildcard bind cannot name itself."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104
        raise ValueError(
            f"--oauth-resource is needed when listening on {host or 'every address'}: give the URL clients "
            "use to reach this server, e.g. https://mcp.example.com/mcp"
        )
    shown = f"[{host}]" if ":" in host else host
    path = "/sse" if settings.transport == "sse" else "/mcp"
    return f"http://{shown}:{settings.port}{path}"


def _read_client(path: Path) -> tuple[str, str]:
    """`client_id:client_secret` from the first line of `path` (the secret is registered for redaction)."""
    try:
        line = path.read_text(encoding="utf-8").strip().splitlines()[0] if path.exists() else ""
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"--oauth-client-file: cannot read {path} ({type(exc).__name__})") from None
    client_id, sep, secret = line.partition(":")
    if not sep or not client_id or not secret:
        raise ValueError(f"--oauth-client-file: {path} must hold one line client_id:client_secret")
    register_secret(secret)
    return client_id, secret


# --- verifiers ------------------------------------------------------------------------------------------


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, kept in `AccessToken.token` instead of the token."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


class StaticTokenVerifier:
    """The static `--auth-token`: one principal (`STATIC_CLIENT`) with every scope."""

    def __init__(self, token: str, scopes: Sequence[str]) -> None:
        self._expected = token.encode()
        self._access = AccessToken(
            token=fingerprint(token), client_id=STATIC_CLIENT, subject=STATIC_CLIENT, scopes=list(scopes)
        )

    async def verify_token(self, token: str) -> AccessToken:
        """The static principal when `token` is the configured one (compared in constant time)."""
        if not hmac.compare_digest(token.encode(), self._expected):
            raise InvalidToken("wrong bearer token")
        return self._access


@dataclass
class _KeySet:
    """One issuer's JWKS as fetched: keys by kid, when, and the re-fetch budget."""

    keys: dict[str, tuple[dict[str, Any], Any]] = field(default_factory=dict)  # kid -> (JWK, jwt.PyJWK)
    unnamed: list[tuple[dict[str, Any], Any]] = field(default_factory=list)  # keys without a kid
    fetched: float = 0.0
    budget: float = _REFETCH_BURST
    budget_at: float = 0.0


@dataclass
class _Cached:
    access: AccessToken
    until: float  # wall-clock time after which the entry is no longer used
    issuer: str
    kid: str | None


class OAuthVerifier:
    """Validates access tokens for one resource: JWTs against the issuers' JWKS, opaque ones by introspection.

    Implements the SDK's `TokenVerifier` protocol (`verify_token`), raising `InvalidToken` with the reason
    instead of returning None so the challenge can say what was wrong.
    """

    def __init__(
        self,
        policy: ResourcePolicy,
        *,
        jwks_url: str | None = None,
        introspection_url: str | None = None,
        client: tuple[str, str] | None = None,
        leeway: float = 30.0,
        client_factory: Callable[[], httpx2.AsyncClient] | None = None,
    ) -> None:
        self.policy = policy
        self.leeway = leeway
        self._jwks_url = jwks_url
        self._introspection_url = introspection_url
        self._client_credentials = client
        self._client_factory = client_factory or (
            lambda: httpx2.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False)
        )
        self._http: httpx2.AsyncClient | None = None
        self._discovered: dict[str, dict[str, Any]] = {}
        self._keysets: dict[str, _KeySet] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._refused: dict[str, tuple[float, str]] = {}
        audiences = {policy.resource, policy.resource.rstrip("/"), policy.resource.rstrip("/") + "/"}
        self._audiences = sorted(audiences)

    # -- the one entry point --

    async def verify_token(self, token: str) -> AccessToken:
        """The `AccessToken` for a valid token; `InvalidToken` (why) or `AuthServerUnavailable` otherwise."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if now < cached.until:
                return cached.access
            del self._cache[token]
        refused = self._refused.get(token)
        if refused is not None and now < refused[0]:
            raise InvalidToken(refused[1])
        try:
            if token.count(".") == 2 and token.startswith("eyJ"):
                entry = await self._verify_jwt(token, now)
            elif self._introspection_url or self._client_credentials:
                entry = await self._introspect(token, now)
            else:
                raise InvalidToken("not a JWT access token, and this server has no introspection configured")
        except InvalidToken as exc:
            if len(self._refused) > _TOKEN_CACHE_SIZE:
                self._refused.clear()
            self._refused[token] = (now + _NEGATIVE_SECONDS, str(exc))
            raise
        self._cache[token] = entry
        if len(self._cache) > _TOKEN_CACHE_SIZE:
            self._cache.popitem(last=False)
        return entry.access

    # -- JWT --

    async def _verify_jwt(self, token: str, now: float) -> _Cached:
        import jwt  # deferred: PyJWT loads cryptography (~40 ms), paid only by servers that verify JWTs

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("malformed JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(
                f"signing algorithm {alg!r} is not accepted (accepted: {', '.join(sorted(ALGORITHMS))})"
            )
        typ = str(header.get("typ", "jwt")).lower()
        if typ not in _ACCESS_TOKEN_TYPES:
            raise InvalidToken(f"token type {header.get('typ')!r} is not an access token")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self.policy.issuers:
            raise InvalidToken("issuer not accepted by this server")
        kid = header.get("kid")
        key = await self._key(issuer, kid if isinstance(kid, str) else None, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"token audience is not this server ({self.policy.resource})") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token refused ({type(exc).__name__})") from None
        if "cnf" in claims:
            raise InvalidToken("sender-constrained tokens (DPoP, mTLS) are not supported by this server")
        access = self._access(token, claims)
        until = min(float(claims["exp"]) + self.leeway, now + _TOKEN_CACHE_SECONDS)
        return _Cached(access, until, issuer, kid if isinstance(kid, str) else None)

    def _access(self, token: str, claims: Mapping[str, Any]) -> AccessToken:
        scope = claims.get("scope")
        if isinstance(scope, str):
            scopes = scope.split()
        elif isinstance(claims.get("scp"), list):
            scopes = [str(s) for s in claims["scp"]]
        elif isinstance(claims.get("scp"), str):
            scopes = str(claims["scp"]).split()
        else:
            scopes = []
        client_id = (
            claims.get("client_id") or claims.get("azp") or claims.get("cid") or claims.get("sub") or ""
        )
        exp = claims.get("exp")
        return AccessToken(
            token=fingerprint(token),
            client_id=str(client_id),
            scopes=scopes,
            expires_at=int(exp) if isinstance(exp, int | float) else None,
            resource=self.policy.resource,
            subject=str(claims["sub"]) if claims.get("sub") is not None else None,
            claims=dict(claims),
        )

    async def _key(self, issuer: str, kid: str | None, alg: str) -> Any:
        """The verification key for (`issuer`, `kid`), fetching the JWKS again when `kid` is unknown."""
        keyset = self._keysets.get(issuer)
        now = time.monotonic()
        if keyset is None or now - keyset.fetched > _JWKS_MAX_AGE:
            keyset = await self._refresh(issuer, keyset)
        found = self._pick(keyset, kid, alg)
        if found is None and self._may_refetch(keyset, now):
            keyset = await self._refresh(issuer, keyset, seen=keyset.fetched)
            found = self._pick(keyset, kid, alg)
        if found is None:
            raise InvalidToken("signing key not found in the issuer's key set (unknown kid)")
        return found

    @staticmethod
    def _pick(keyset: _KeySet, kid: str | None, alg: str) -> Any:
        kty, crv = _KEY_TYPES[alg]
        candidates = [keyset.keys[kid]] if kid is not None and kid in keyset.keys else []
        if kid is None:
            candidates = [*keyset.unnamed, *keyset.keys.values()]
        for data, jwk in candidates:
            if data.get("kty") != kty or (crv is not None and data.get("crv") != crv):
                continue
            if data.get("alg") not in (None, alg) or data.get("use") not in (None, "sig"):
                continue
            return jwk.key
        return None

    @staticmethod
    def _may_refetch(keyset: _KeySet, now: float) -> bool:
        """A token bucket: `_REFETCH_BURST` re-fetches at once, then one per `_REFETCH_EVERY` seconds."""
        keyset.budget = min(_REFETCH_BURST, keyset.budget + (now - keyset.budget_at) / _REFETCH_EVERY)
        keyset.budget_at = now
        if keyset.budget < 1:
            return False
        keyset.budget -= 1
        return True

    async def _refresh(self, issuer: str, old: _KeySet | None, seen: float | None = None) -> _KeySet:
        import jwt  # deferred, as in _verify_jwt

        lock = self._locks.setdefault(issuer, anyio.Lock())
        async with lock:
            current = self._keysets.get(issuer)
            if current is not None and seen is not None and current.fetched > seen:
                return current  # another request fetched it meanwhile
            url = self._jwks_url or (await self._discovery(issuer)).get("jwks_uri")
            if not isinstance(url, str):
                raise AuthServerUnavailable(f"{issuer} publishes no jwks_uri")
            try:
                document = await self._get_json(_check_fetch_url(url, "jwks_uri"))
            except (AuthServerUnavailable, ValueError):
                if old is not None:  # keep using the keys we have
                    old.fetched = time.monotonic()
                    return old
                raise
            keyset = _KeySet(fetched=time.monotonic(), budget_at=time.monotonic())
            if old is not None:
                keyset.budget, keyset.budget_at = old.budget, old.budget_at
            for item in document.get("keys", []) if isinstance(document, dict) else []:
                if not isinstance(item, dict) or "d" in item:
                    continue  # never a private key, even if the issuer publishes one by mistake
                try:
                    parsed = jwt.PyJWK(item)
                except (jwt.PyJWTError, ValueError, TypeError):
                    continue  # a key type or curve we do not use
                if isinstance(item.get("kid"), str):
                    keyset.keys[item["kid"]] = (item, parsed)
                else:
                    keyset.unnamed.append((item, parsed))
            self._keysets[issuer] = keyset
            self._forget_removed(issuer, keyset)
            log.info("issuer keys fetched", issuer=issuer, keys=len(keyset.keys) + len(keyset.unnamed))
            return keyset

    def _forget_removed(self, issuer: str, keyset: _KeySet) -> None:
        """Drop cached validations made with keys the issuer no longer publishes."""
        gone = [
            t
            for t, e in self._cache.items()
            if e.issuer == issuer and e.kid is not None and e.kid not in keyset.keys
        ]
        for token in gone:
            del self._cache[token]

    async def _discovery(self, issuer: str) -> dict[str, Any]:
        """The issuer's RFC 8414 (or OpenID) metadata; its `issuer` must be the configured one exactly."""
        if issuer in self._discovered:
            return self._discovered[issuer]
        parts = urlsplit(issuer)
        path = parts.path.rstrip("/")
        candidates = [
            urlunsplit(
                (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
            ),
            urlunsplit((parts.scheme, parts.netloc, "/.well-known/openid-configuration" + path, "", "")),
            urlunsplit((parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", "", "")),
        ]
        for url in dict.fromkeys(candidates):
            try:
                document = await self._get_json(url)
            except _NotFound:
                continue
            if not isinstance(document, dict) or document.get("issuer") != issuer:
                raise AuthServerUnavailable(f"{url} is not the metadata of issuer {issuer}")
            self._discovered[issuer] = document
            return document
        raise AuthServerUnavailable(f"{issuer} publishes no authorization server metadata")

    async def _get_json(
        self, url: str, *, form: dict[str, str] | None = None, auth: str | None = None
    ) -> Any:
        if self._http is None:
            self._http = self._client_factory()
        try:
            if form is None:
                response = await self._http.get(url, headers={"Accept": "application/json"})
            else:
                headers = {"Accept": "application/json", "Authorization": auth or ""}
                response = await self._http.post(url, data=form, headers=headers)
        except httpx2.HTTPError as exc:
            raise AuthServerUnavailable(f"{url}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise _NotFound(url)
        if response.status_code != 200:
            raise AuthServerUnavailable(f"{url} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise AuthServerUnavailable(f"{url} did not answer JSON") from None

    # -- introspection --

    async def _introspect(self, token: str, now: float) -> _Cached:
        if self._client_credentials is None:
            raise InvalidToken("opaque token, and this server has no introspection client configured")
        url: str | None = self._introspection_url
        if url is None:
            for issuer in self.policy.issuers:
                found = (await self._discovery(issuer)).get("introspection_endpoint")
                if isinstance(found, str):
                    url = _check_fetch_url(found, "introspection_endpoint")
                    break
            if url is None:
                raise InvalidToken("opaque token, and the issuer publishes no introspection endpoint")
            self._introspection_url = url
        client_id, secret = self._client_credentials
        answer = await self._get_json(
            url,
            form={"token": token, "token_type_hint": "access_token"},
            auth=basic_credentials(client_id, secret),
        )
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise InvalidToken("token is not active")
        claimed = answer.get("iss")
        if claimed is not None and (not isinstance(claimed, str) or claimed not in self.policy.issuers):
            raise InvalidToken("issuer not accepted by this server")
        audience = answer.get("aud")
        audiences = (
            audience if isinstance(audience, list) else [audience] if isinstance(audience, str) else []
        )
        if not set(audiences) & set(self._audiences):
            raise InvalidToken(f"token audience is not this server ({self.policy.resource})")
        exp = answer.get("exp")
        if isinstance(exp, int | float) and exp + self.leeway < now:
            raise InvalidToken("token expired")
        nbf = answer.get("nbf")
        if isinstance(nbf, int | float) and nbf - self.leeway > now:
            raise InvalidToken("token not valid yet (nbf in the future)")
        claims = {k: v for k, v in answer.items() if k != "active"}
        if claimed is None and len(self.policy.issuers) == 1:
            claims["iss"] = self.policy.issuers[0]
        access = self._access(token, claims)
        until = now + _INTROSPECTION_SECONDS
        if isinstance(exp, int | float):
            until = min(until, exp + self.leeway)
        return _Cached(access, until, str(claims.get("iss", "")), None)

    async def aclose(self) -> None:
        """Close the HTTP client used for discovery, JWKS and introspection."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class _NotFound(Exception):
    pass


# --- the HTTP side ------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HttpAuth:
    """ASGI middleware: the metadata document, the bearer check and the scope check of every HTTP request.

    `/healthz` and the metadata document need no token. Every other request must carry
    `Authorization: Bearer <token>`; a valid one is put where the SDK looks for it (`scope["user"]`,
    `scope["auth"]`, `auth_context_var`). A POST whose token lacks the write scope is read first: a
    `tools/call` of a tool that needs write access gets 403 `insufficient_scope` before the server sees it.
    """

    def __init__(
        self,
        app: ASGIApp,
        setup: AuthSetup,
        tool_access: Callable[[str], str | None],
    ) -> None:
        self.app = app
        self.verifier = setup.verifier
        self.policy = setup.policy
        self.oauth = setup.oauth
        self.tool_access = tool_access

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer the metadata document or a challenge, or pass the request on with its principal set."""
        if scope["type"] != "http" or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or ""
        if self.oauth and (path == _METADATA_PREFIX or path.startswith(_METADATA_PREFIX + "/")):
            await self._metadata(scope, send)
            return
        header = _header(scope, b"authorization")
        if header is None or header[:7].lower() != b"bearer " or not header[7:].strip():
            await self._challenge(send, 401, None, "")
            return
        try:
            access = await self.verifier.verify_token(header[7:].strip().decode("latin-1"))
        except InvalidToken as exc:
            log.info("bearer token refused", reason=str(exc), path=path)
            await self._challenge(send, 401, "invalid_token", str(exc))
            return
        except AuthServerUnavailable as exc:
            log.warning("authorization server unavailable", reason=str(exc))
            await _respond(
                send,
                503,
                {"error": "temporarily_unavailable", "error_description": "cannot check tokens now"},
                [(b"retry-after", b"5")],
            )
            return
        if self.oauth and not self.policy.may_read(access.scopes):
            await self._challenge(
                send,
                403,
                "insufficient_scope",
                f"this server needs the {self.policy.read_scope} scope",
                scope_needed=self.policy.read_scope,
            )
            return
        if self.oauth and scope.get("method") == "POST" and not self.policy.may_write(access.scopes):
            receive, denied = await self._inspect_body(receive)
            if denied is not None:
                log.info("tool call refused: missing scope", tool=denied, scope=self.policy.write_scope)
                await self._challenge(
                    send,
                    403,
                    "insufficient_scope",
                    f"{denied} changes data and needs the {self.policy.write_scope} scope",
                    scope_needed=f"{self.policy.read_scope} {self.policy.write_scope}",
                )
                return
        user = AuthenticatedUser(access)
        scope["user"] = user
        scope["auth"] = AuthCredentials(access.scopes)
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)

    async def _inspect_body(self, receive: Any) -> tuple[Any, str | None]:
        """Read the body: a receive that replays it, and the write tool it calls (None: nothing to refuse)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message], receive), None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body"))
            if size > _MAX_INSPECTED_BODY:
                break
        body = b"".join(chunks)
        replayed = _replay([{"type": "http.request", "body": body, "more_body": more}], receive)
        if size > _MAX_INSPECTED_BODY:
            return replayed, None  # the SDK refuses it (413); the scope gate stops it inside too
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return replayed, None
        for message in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(message, dict) or message.get("method") != "tools/call":
                continue
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str) and self.tool_access(name) not in (None, READ):
                return replayed, name
        return replayed, None

    async def _metadata(self, scope: dict[str, Any], send: Any) -> None:
        cors = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"GET, OPTIONS"),
            (b"access-control-allow-headers", b"mcp-protocol-version"),
        ]
        if scope.get("method") == "OPTIONS":
            await _respond(send, 204, None, cors)
        elif scope.get("method") in ("GET", "HEAD"):
            cache = (b"cache-control", b"public, max-age=3600")
            await _respond(
                send, 200, self.policy.document(), [*cors, cache], head=scope.get("method") == "HEAD"
            )
        else:
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"GET, OPTIONS")])

    async def _challenge(
        self, send: Any, status: int, error: str | None, description: str, *, scope_needed: str | None = None
    ) -> None:
        """A 401/403 with the RFC 6750 challenge (and RFC 9728 `resource_metadata` with OAuth)."""
        parts: list[str] = []
        if not self.oauth:
            parts.append('realm="patchbay"')
        if error:
            parts.append(f"error={_quote(error)}")
        if description:
            parts.append(f"error_description={_quote(description)}")
        if self.oauth:
            parts.append(f"resource_metadata={_quote(self.policy.metadata_url)}")
            parts.append(f"scope={_quote(scope_needed or self.policy.read_scope)}")
        body = {
            "error": error or "unauthorized",
            "error_description": description or "a bearer token is required",
        }
        await _respond(send, status, body, [(b"www-authenticate", ("Bearer " + ", ".join(parts)).encode())])


def _header(scope: Mapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


def _replay(messages: list[dict[str, Any]], receive: Any) -> Callable[[], Awaitable[Any]]:
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _respond(
    send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]], *, head: bool = False
) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    fields = [(b"content-length", str(len(data)).encode()), *headers]
    if body is not None:
        fields.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": b"" if head else data})


# --- inside the server: listing and calling by scope ----------------------------------------------------


class ScopeGate:
    """SDK middleware: a token without the write scope lists only read tools and cannot call the others.

    The HTTP layer already answers such a call with 403 (so the client can step up); this is the same rule
    applied where the server dispatches, for anything that reaches it another way. Without a token (stdio,
    no auth) nothing is filtered.
    """

    def __init__(self, policy: ResourcePolicy, tool_access: Callable[[str], str | None]) -> None:
        self.policy = policy
        self.tool_access = tool_access

    def _read_only(self) -> bool:
        token = get_access_token()
        return token is not None and not self.policy.may_write(token.scopes)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Filter `tools/list`, refuse a write `tools/call`, pass everything else on."""
        if ctx.method == "tools/call" and self._read_only():
            name = (ctx.params or {}).get("name")
            if isinstance(name, str) and self.tool_access(name) not in (None, READ):
                raise MCPError(INVALID_PARAMS, f"{name} needs the {self.policy.write_scope} scope")
        result = await call_next(ctx)
        if ctx.method == "tools/list" and self._read_only():
            if isinstance(result, ListToolsResult):
                kept = [t for t in result.tools if self.tool_access(t.name) in (None, READ)]
                result = result.model_copy(update={"tools": kept})
            elif isinstance(result, dict) and isinstance(result.get("tools"), list):
                kept_raw = [
                    t for t in result["tools"] if self.tool_access(str(t.get("name"))) in (None, READ)
                ]
                result = {**result, "tools": kept_raw}
        return result


def basic_credentials(client_id: str, secret: str) -> str:
    """The `Authorization: Basic` value for a client (RFC 6749 §2.3.1 form-encodes both parts)."""
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()
