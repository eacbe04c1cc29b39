"""patchbay-redis: an MCP server for one Redis database, through redis-py asyncio.

Read-only by default (`--access read`); `--access write` lists the tools that change data and `--access
admin` adds a raw-command tool that runs only the commands the operator allow-lists. Every command goes
through `connection.Store.run`, which refuses dangerous commands (flushes, CONFIG, scripting, KEYS, ...)
before anything is sent. Key listing walks SCAN in short steps, so Redis is never blocked. Values are
shown type-aware and capped, framed as untrusted data, with `structuredContent` beside the text.
Redis Cluster (`--cluster` or detected) works
through redis-py's cluster client: keys routed by slot, listing over every primary under one cursor.
Channels and keys are resources: subscribing (`resources/subscribe` in the handshake era,
`subscriptions/listen` in 2026-07-28) sends `notifications/resources/updated` on each message or
keyspace event. Expected failures reach the model as `isError` text with a next step; the connection
password never appears in a result or a log line. stdio, SSE and streamable HTTP, both protocol eras.

Code layout: connection.py (the guarded `Store`), policy.py (tiers and dangerous commands), ops.py (what
each tool does to Redis, plain async functions), values.py (showing bytes), live.py (the subscription
hub); deps.py (what the tools need and how an answer is sized); one toolset module per --toolsets group
(keys, strings, hashes, lists, sets, zsets, streams, documents for json, search, info for server, pubsub)
plus command.py (the admin tier); resources.py (the key and channel resources). This file reads the
settings, builds the dependencies and registers toolsets, resources and subscriptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from mcp.server.mcpserver.resources.templates import ResourceSecurity
from pydantic import Field, SecretStr

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.errors import register_secret
from patchbay_common.logs import get_logger
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.toolsets import Toolset
from patchbay_redis import (
    __version__,
    command,
    completions,
    documents,
    hashes,
    info,
    keys,
    lists,
    pubsub,
    resources,
    search,
    sets,
    streams,
    strings,
    zsets,
)
from patchbay_redis.connection import ConnectionOptions, Modules, Store, probe_modules
from patchbay_redis.deps import Deps
from patchbay_redis.live import Hub
from patchbay_redis.policy import TIERS, Policy

log = get_logger("patchbay.redis")

TOOLSETS: dict[str, Toolset] = {
    toolset.name: toolset
    for toolset in (
        keys.tools,
        strings.tools,
        hashes.tools,
        lists.tools,
        sets.tools,
        zsets.tools,
        streams.tools,
        documents.tools,
        search.tools,
        info.tools,
        pubsub.tools,
    )
}
"""The --toolsets groups, in listing order; json and search are registered only when Redis has the module."""


KEY_TEMPLATE = "redis://key/{key}"
CHANNEL_TEMPLATE = "redis://channel/{channel}"
# redis-py is imported when the first call connects (80-100 ms); these are imported in the background as
# soon as a client has connected instead (patchbay_common.warmup), so the first call does not wait for them.
WARM_IMPORTS = ("redis.asyncio", "redis.asyncio.retry", "redis.backoff", "redis.exceptions")


class Settings(CommonSettings):
    """Flags of patchbay-redis (each also PATCHBAY_REDIS_<FLAG>)."""

    model_config = settings_config("redis")

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL: redis://[user:password@]host:port/db, rediss:// or unix://.",
    )
    username: str | None = Field(None, description="ACL username (overrides the URL's).")
    password: SecretStr | None = Field(None, description="Password (overrides the URL's).")
    password_file: Path | None = Field(None, description="Read the password from this file.")
    db: int | None = Field(None, ge=0, description="Database number (overrides the URL's).")
    tls_ca_file: Path | None = Field(None, description="CA bundle for rediss:// connections.")
    tls_cert_file: Path | None = Field(None, description="Client certificate for mutual TLS.")
    tls_key_file: Path | None = Field(None, description="Client key for mutual TLS.")
    tls_insecure: bool = Field(False, description="Do not verify the server certificate (testing only).")
    sentinel: list[str] = Field(default_factory=list, description="Sentinel host:port (repeatable).")
    sentinel_service: str | None = Field(None, description="Name of the primary the sentinels monitor.")
    cluster: bool = Field(
        False, description="Redis Cluster (the URL names any node); found by itself when Redis says so."
    )
    access: Literal["read", "write", "admin"] = Field(
        "read",
        description="read: no changes; write: tools that change data; admin: raw allow-listed commands.",
    )
    allow_command: list[str] = Field(
        default_factory=list,
        description="Dangerous command to allow anyway, e.g. 'CONFIG GET' (repeatable); raw tool runs these.",
    )
    toolsets: list[str] = Field(
        default_factory=lambda: list(TOOLSETS), description=f"Tool groups to list: {', '.join(TOOLSETS)}."
    )
    command_timeout: float = Field(5.0, gt=0, description="Seconds one Redis command may take.")
    buffer_size: int = Field(
        100, ge=1, le=10_000, description="Messages kept per subscribed channel resource."
    )

    def connection(self) -> ConnectionOptions:
        """The connection options, with every secret registered for redaction."""
        password = self.password.get_secret_value() if self.password else None
        if self.password_file is not None:
            password = self.password_file.read_text().strip()
        register_secret(password)
        return ConnectionOptions(
            url=self.url,
            username=self.username,
            password=password,
            db=self.db,
            tls_ca_file=str(self.tls_ca_file) if self.tls_ca_file else None,
            tls_cert_file=str(self.tls_cert_file) if self.tls_cert_file else None,
            tls_key_file=str(self.tls_key_file) if self.tls_key_file else None,
            tls_insecure=self.tls_insecure,
            sentinels=tuple(self.sentinel),
            sentinel_service=self.sentinel_service,
            cluster=self.cluster,
            command_timeout=self.command_timeout,
        )


def granted(access: str) -> set[str]:
    """The tiers an `--access` level grants: each includes the ones below it."""
    return set(TIERS[: TIERS.index(access) + 1])


def build(settings: Settings, modules: Modules | None = None) -> PatchbayServer:
    """The server: toolsets by --toolsets and --access, key and channel resources, subscriptions."""
    register_secret(unquote(urlsplit(settings.url).password or ""))
    unknown = sorted(set(settings.toolsets) - set(TOOLSETS))
    if unknown:
        raise ValueError(f"--toolsets: unknown {', '.join(unknown)} (choose from {', '.join(TOOLSETS)})")
    options = settings.connection()
    modules = modules if modules is not None else probe_modules(options)
    if "client|setname" in modules.refused:  # redis-py would fail every connection on CLIENT SETNAME
        options = replace(options, client_name=None)
    if modules.cluster and not options.cluster:  # INFO cluster said cluster_enabled:1
        options = replace(options, cluster=True)
    policy = Policy.of(settings.access, settings.allow_command)
    deps = Deps(
        store=Store(options, policy, refused=modules.refused),
        hub=Hub(options, options.database, buffer_size=settings.buffer_size),
        max_chars=settings.max_output_chars,
    )
    log.info(
        "redis server configured",
        where=deps.store.where,
        access=settings.access,
        cluster=options.cluster,
        modules=modules.__dict__,
    )

    mcp = PatchbayServer(
        "patchbay-redis",
        version=__version__,
        settings=settings,
        lifespan=closing_when_idle(deps),
        warm_imports=WARM_IMPORTS,
    )
    access = granted(settings.access)
    present = {"json": modules.json, "search": modules.search}
    for name in TOOLSETS:
        if name in settings.toolsets and present.get(name, True):
            mcp.add_toolset(TOOLSETS[name], deps, access=access)
    mcp.add_toolset(command.tools, deps, access=access)  # admin only; not a --toolsets group

    exempt = ResourceSecurity(
        reject_path_traversal=False, reject_absolute_paths=False, reject_null_bytes=True
    )

    @mcp.resource(KEY_TEMPLATE, untrusted="redis key", mime_type="application/json", security=exempt)
    async def key_resource(key: str) -> str:
        """A key's value (as the get tool returns it); subscribing announces each change (keyspace events)."""
        return await resources.key_text(deps, key)

    @mcp.resource(CHANNEL_TEMPLATE, untrusted="redis channel", mime_type="application/json", security=exempt)
    async def channel_resource(channel: str) -> str:
        """The latest messages on a pub/sub channel, kept while a client is subscribed to this resource."""
        return resources.channel_text(deps, channel)

    @mcp.complete(KEY_TEMPLATE, "key")
    async def complete_key(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return await completions.keys(deps.store, value)

    @mcp.complete(CHANNEL_TEMPLATE, "channel")
    async def complete_channel(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return await completions.channels(deps.store, value)

    async def watchable(ctx: Any, uri: str) -> None:
        deps.hub.check(uri)

    subscriptions = mcp.subscriptions(check=watchable, acquire=deps.hub.acquire, release=deps.hub.release)
    deps.hub.notify = subscriptions.publish
    mcp.redis_store = deps.store  # type: ignore[attr-defined]  # for tests and embedding: the guarded door
    mcp.redis_hub = deps.hub  # type: ignore[attr-defined]
    return mcp


def closing_when_idle(deps: Deps) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan closing the Redis connections when the last connection served by this server ends."""
    active = 0

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        nonlocal active
        active += 1
        try:
            yield
        finally:
            active -= 1
            if active == 0:
                await deps.hub.aclose()
                await deps.store.aclose()

    return lifespan


def preflight(settings: Settings) -> list[str]:
    """Start-up check: the URL parses, Redis answers within 1.5 s and accepts the login (never the password).

    Logged as one warning with its fix (the module probe in `build` still refuses a rejected login), or
    with --strict a refusal to start.
    """
    from patchbay_redis.connection import login_problem

    try:
        options = settings.connection()
    except ValueError as exc:
        return [f"{exc}; e.g. redis://127.0.0.1:6379/0"]
    except OSError:
        return []  # an unreadable --password-file: build names it in its own line
    problem = login_problem(options)
    if problem is None:
        return []
    if "password" in problem or "login" in problem:
        fix = "set the password with --password-file FILE or PATCHBAY_REDIS_PASSWORD (or in the URL)"
        if "no password set" in problem:
            fix = "drop --password/--password-file and the password in the URL"
        elif "refused the login" in problem:
            fix = "check --username and the password (--password-file, PATCHBAY_REDIS_PASSWORD or the URL)"
    else:
        fix = "start Redis there or fix --url (PATCHBAY_REDIS_URL=redis://host:6379/0)"
    return [f"{problem}; {fix}"]


def main() -> None:
    """Console entry point: `patchbay-redis`."""
    serve(build, Settings, preflight=preflight)
