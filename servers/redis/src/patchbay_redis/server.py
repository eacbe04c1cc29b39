"""patchbay-redis: an MCP server for one Redis database, through redis-py asyncio.

Read-only by default (`--access read`); `--access write` lists the tools that change data and `--access
admin` adds a raw-command tool that runs only the commands the operator allow-lists. Every command goes
through `connection.Store.run`, which refuses dangerous commands (flushes, CONFIG, scripting, KEYS, ...)
before anything is sent. Key listing walks SCAN in short steps, so Redis is never blocked. Values are
shown type-aware and capped, wrapped as untrusted data, with `structuredContent` beside the text.
Channels and keys are resources: subscribing (`resources/subscribe` in the handshake era,
`subscriptions/listen` in 2026-07-28) sends `notifications/resources/updated` on each message or
keyspace event. Expected failures reach the model as `isError` text with a next step; the connection
password never appears in a result or a log line. stdio, SSE and streamable HTTP, both protocol eras.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from mcp.server.mcpserver.resources.templates import ResourceSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)
from pydantic import Field, SecretStr

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.connections import connection_of
from patchbay_common.errors import UserError, register_secret
from patchbay_common.limits import cap_text
from patchbay_common.logs import get_logger
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.untrusted import wrap_untrusted
from patchbay_redis import __version__, ops
from patchbay_redis.connection import ConnectionOptions, Modules, Store, probe_modules
from patchbay_redis.live import Hub, channel_uri
from patchbay_redis.policy import Policy

log = get_logger("patchbay.redis")

TOOLSETS = (
    "keys",
    "strings",
    "hashes",
    "lists",
    "sets",
    "zsets",
    "streams",
    "json",
    "search",
    "server",
    "pubsub",
)


Key = Annotated[str, Field(description="Key name (UTF-8 text; any characters, CR and LF included).")]
Keys = Annotated[list[str], Field(description="Key names.")]
Limit = Annotated[int, Field(ge=1, le=1000, description="Most items to return.")]


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
            command_timeout=self.command_timeout,
        )


def build(settings: Settings, modules: Modules | None = None) -> PatchbayServer:
    """The server: tools by toolset and tier, channel and key resources, subscriptions."""
    register_secret(unquote(urlsplit(settings.url).password or ""))
    unknown = sorted(set(settings.toolsets) - set(TOOLSETS))
    if unknown:
        raise ValueError(f"--toolsets: unknown {', '.join(unknown)} (choose from {', '.join(TOOLSETS)})")
    options = settings.connection()
    policy = Policy.of(settings.access, settings.allow_command)
    modules = modules if modules is not None else probe_modules(options)
    if "client|setname" in modules.refused:  # redis-py would fail every connection on CLIENT SETNAME
        options = replace(options, client_name=None)
    store = Store(options, policy, refused=modules.refused)
    hub = Hub(options, options.database, buffer_size=settings.buffer_size)
    bus = InMemorySubscriptionBus()
    active = 0

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        """Close the Redis connections when the last connection served by this server ends."""
        nonlocal active
        active += 1
        try:
            yield {}
        finally:
            active -= 1
            if active == 0:
                await hub.aclose()
                await store.aclose()

    mcp = PatchbayServer(
        "patchbay-redis", version=__version__, settings=settings, subscriptions=bus, lifespan=lifespan
    )
    cap = settings.max_output_chars
    on = set(settings.toolsets)
    write = policy.at_least("write")
    log.info("redis server configured", where=store.where, access=settings.access, modules=modules.__dict__)

    def result(data: dict[str, Any], source: str) -> CallToolResult:
        text = cap_text(json.dumps(data, ensure_ascii=False, default=str), cap).render()
        return CallToolResult(
            content=[TextContent(text=wrap_untrusted(text, f"redis {source}"))], structured_content=data
        )

    def done(data: dict[str, Any]) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(text=json.dumps(data, ensure_ascii=False))], structured_content=data
        )

    # --- keys -------------------------------------------------------------------------------------------
    if "keys" in on:

        @mcp.tool(name="list", annotations=hints(read_only=True))
        async def list_keys(
            pattern: Annotated[str, Field(description="Glob pattern (* ? [abc]); * for all keys.")] = "*",
            type: Annotated[
                Literal["string", "hash", "list", "set", "zset", "stream"] | None,
                Field(description="Only keys of this type."),
            ] = None,
            cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
            limit: Limit = 100,
        ) -> CallToolResult:
            """List keys matching a glob pattern a page at a time (SCAN, not KEYS); next_cursor continues."""
            data = await ops.list_keys(store, pattern, type_=type, cursor=cursor, limit=limit, max_chars=cap)
            return result(data, f"keys matching {pattern}")

        @mcp.tool(annotations=hints(read_only=True))
        async def get(key: Key, limit: Limit = 100) -> CallToolResult:
            """Return a key's value (any type: string, hash, list, set, zset, stream), TTL and length."""
            return result(await ops.get_value(store, key, limit=limit, max_chars=cap), f"key {key}")

        @mcp.tool(annotations=hints(read_only=True))
        async def key_info(keys: Keys) -> CallToolResult:
            """Return, for each key, whether it exists, its type, TTL, memory use, encoding and length."""
            return result(await ops.key_info(store, keys), "key metadata")

        if write:

            @mcp.tool(name="set", annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def set_(
                key: Key,
                value: Annotated[str, Field(description="The string value.")],
                expire_seconds: Annotated[
                    int | None, Field(ge=1, description="Expire after this many seconds.")
                ] = None,
                only_if: Annotated[
                    Literal["absent", "present"] | None,
                    Field(description="absent: only create (NX); present: only replace (XX)."),
                ] = None,
            ) -> CallToolResult:
                """Set a key to a string value, with optional expiry and NX/XX; returns whether it was set."""
                return done(
                    await ops.set_value(store, key, value, expire_seconds=expire_seconds, only_if=only_if)
                )

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def delete(
                keys: Annotated[list[str], Field(description="Key names to delete.")],
            ) -> CallToolResult:
                """Delete keys (UNLINK: memory is freed in the background); returns how many were deleted."""
                return done(await ops.delete_keys(store, keys))

            @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=True))
            async def expire(
                key: Key,
                seconds: Annotated[
                    int | None, Field(ge=1, description="Seconds to live; null removes the expiry.")
                ],
            ) -> CallToolResult:
                """Set a key's time to live in seconds, or remove its expiry when seconds is null."""
                return done(await ops.expire(store, key, seconds))

            @mcp.tool(annotations=hints(read_only=False, destructive=True))
            async def rename(
                key: Key,
                new_key: Annotated[str, Field(description="The new name.")],
                overwrite: Annotated[bool, Field(description="Replace new_key if it exists.")] = False,
            ) -> CallToolResult:
                """Rename a key; refuses when new_key exists unless overwrite is true."""
                return done(await ops.rename(store, key, new_key, overwrite=overwrite))

    # --- strings ----------------------------------------------------------------------------------------
    if "strings" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def mget(keys: Keys) -> CallToolResult:
            """Return several string values in one round trip (null for missing keys and other types)."""
            return result(await ops.mget(store, keys, max_chars=cap), "string values")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False))
            async def incr(
                key: Key, by: Annotated[float, Field(description="Amount to add (negative to subtract).")] = 1
            ) -> CallToolResult:
                """Add a number to a counter key (created at 0); returns the new value."""
                return done(await ops.incr(store, key, int(by) if float(by).is_integer() else by))

    # --- hashes -----------------------------------------------------------------------------------------
    if "hashes" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def hash_get(
            key: Key,
            fields: Annotated[
                list[str] | None, Field(description="Fields to read; omit to page through all.")
            ] = None,
            pattern: Annotated[str, Field(description="Glob for field names when paging.")] = "*",
            cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
            limit: Limit = 100,
        ) -> CallToolResult:
            """Return named fields of a hash, or its fields matching a pattern one page at a time."""
            data = await ops.hash_get(
                store, key, fields=fields, pattern=pattern, cursor=cursor, limit=limit, max_chars=cap
            )
            return result(data, f"hash {key}")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def hash_set(
                key: Key, fields: Annotated[dict[str, str], Field(description="Field names and values.")]
            ) -> CallToolResult:
                """Set fields of a hash (created if missing); returns how many fields were new."""
                return done(await ops.hash_set(store, key, fields))

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def hash_delete(
                key: Key, fields: Annotated[list[str], Field(description="Field names.")]
            ) -> CallToolResult:
                """Delete fields of a hash; returns how many existed."""
                return done(await ops.hash_delete(store, key, fields))

    # --- lists ------------------------------------------------------------------------------------------
    if "lists" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def list_range(
            key: Key,
            start: Annotated[int, Field(description="First index (0 is the head, -1 the tail).")] = 0,
            count: Limit = 100,
        ) -> CallToolResult:
            """Return up to count items of a list from index start, with the list's length and next_start."""
            return result(
                await ops.list_range(store, key, start=start, count=count, max_chars=cap), f"list {key}"
            )

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False))
            async def list_push(
                key: Key,
                values: Annotated[list[str], Field(description="Values to push, in order.")],
                end: Annotated[
                    Literal["left", "right"], Field(description="left: head; right: tail.")
                ] = "right",
            ) -> CallToolResult:
                """Push values onto the head or tail of a list (created if missing); returns the length."""
                return done(await ops.list_push(store, key, values, end=end))

            @mcp.tool(annotations=hints(read_only=False, destructive=True))
            async def list_pop(
                key: Key,
                end: Annotated[
                    Literal["left", "right"], Field(description="left: head; right: tail.")
                ] = "left",
                count: Annotated[int, Field(ge=1, le=1000, description="How many items.")] = 1,
            ) -> CallToolResult:
                """Remove and return up to count items from the head or tail of a list."""
                return done(await ops.list_pop(store, key, end=end, count=count))

    # --- sets -------------------------------------------------------------------------------------------
    if "sets" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def set_members(
            key: Key,
            check: Annotated[list[str] | None, Field(description="Values to test for membership.")] = None,
            pattern: Annotated[str, Field(description="Glob for members when paging.")] = "*",
            cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
            limit: Limit = 100,
        ) -> CallToolResult:
            """Return whether given values are members of a set, or its members one page at a time."""
            data = await ops.set_members(
                store, key, check=check, pattern=pattern, cursor=cursor, limit=limit, max_chars=cap
            )
            return result(data, f"set {key}")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=True))
            async def set_add(
                key: Key, members: Annotated[list[str], Field(description="Members.")]
            ) -> CallToolResult:
                """Add members to a set (created if missing); returns how many were new."""
                return done(await ops.set_add(store, key, members))

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def set_remove(
                key: Key, members: Annotated[list[str], Field(description="Members.")]
            ) -> CallToolResult:
                """Remove members from a set; returns how many were there."""
                return done(await ops.set_remove(store, key, members))

    # --- sorted sets ------------------------------------------------------------------------------------
    if "zsets" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def zset_range(
            key: Key,
            by: Annotated[
                Literal["rank", "score"], Field(description="Bounds are ranks or scores.")
            ] = "rank",
            start: Annotated[
                str, Field(description="Lower bound: a rank, or a score such as -inf or (5.")
            ] = "0",
            stop: Annotated[
                str, Field(description="Upper bound: a rank (-1 is the last), or a score such as +inf.")
            ] = "-1",
            reverse: Annotated[bool, Field(description="Highest first.")] = False,
            offset: Annotated[int, Field(ge=0, description="Members to skip.")] = 0,
            limit: Limit = 100,
        ) -> CallToolResult:
            """Return sorted set members with scores, by rank or score range, one page at a time."""
            data = await ops.zset_range(
                store,
                key,
                by=by,
                start=start,
                stop=stop,
                reverse=reverse,
                offset=offset,
                limit=limit,
                max_chars=cap,
            )
            return result(data, f"sorted set {key}")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=True))
            async def zset_add(
                key: Key, members: Annotated[dict[str, float], Field(description="Members and their scores.")]
            ) -> CallToolResult:
                """Add members with scores to a sorted set (updating existing ones); returns the new count."""
                return done(await ops.zset_add(store, key, members))

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def zset_remove(
                key: Key, members: Annotated[list[str], Field(description="Members.")]
            ) -> CallToolResult:
                """Remove members from a sorted set; returns how many were there."""
                return done(await ops.zset_remove(store, key, members))

    # --- streams ----------------------------------------------------------------------------------------
    if "streams" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def stream_range(
            key: Key,
            start: Annotated[
                str, Field(description="First id (- for the oldest; (id to start after it).")
            ] = "-",
            end: Annotated[str, Field(description="Last id (+ for the newest).")] = "+",
            count: Annotated[int, Field(ge=1, le=1000, description="Most entries to return.")] = 50,
            reverse: Annotated[bool, Field(description="Newest first.")] = False,
        ) -> CallToolResult:
            """Return entries of a stream between two ids, oldest first unless reverse is true."""
            data = await ops.stream_range(
                store, key, start=start, end=end, count=count, reverse=reverse, max_chars=cap
            )
            return result(data, f"stream {key}")

        @mcp.tool(annotations=hints(read_only=True))
        async def stream_groups(key: Key) -> CallToolResult:
            """Return a stream's consumer groups: consumers, pending counts, last delivered ids."""
            return result(await ops.stream_groups(store, key), f"stream {key} groups")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False))
            async def stream_add(
                key: Key,
                fields: Annotated[dict[str, str], Field(description="The entry's fields and values.")],
                max_length: Annotated[
                    int | None, Field(ge=1, description="Trim to about this many entries.")
                ] = None,
            ) -> CallToolResult:
                """Append an entry to a stream (created if missing); returns the new entry id."""
                return done(await ops.stream_add(store, key, fields, max_length=max_length))

            @mcp.tool(annotations=hints(read_only=False, destructive=False, idempotent=True))
            async def stream_ack(
                key: Key,
                group: Annotated[str, Field(description="Consumer group name.")],
                ids: Annotated[list[str], Field(description="Entry ids to acknowledge.")],
            ) -> CallToolResult:
                """Acknowledge stream entries for a consumer group; returns how many were pending."""
                return done(await ops.stream_ack(store, key, group, ids))

    # --- modules (listed only when Redis has them) ------------------------------------------------------
    if "json" in on and modules.json:

        @mcp.tool(annotations=hints(read_only=True))
        async def json_get(
            key: Key, path: Annotated[str, Field(description="JSONPath, $ for the whole document.")] = "$"
        ) -> CallToolResult:
            """Return a path of a JSON document (RedisJSON)."""
            return result(await ops.json_get(store, key, path, max_chars=cap), f"json {key}")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=True, idempotent=True))
            async def json_set(
                key: Key,
                path: Annotated[str, Field(description="JSONPath, $ for the whole document.")],
                value: Annotated[str, Field(description="The new value as JSON text.")],
            ) -> CallToolResult:
                """Set a path of a JSON document (RedisJSON) to a JSON value."""
                return done(await ops.json_set(store, key, path, value))

    if "search" in on and modules.search:

        @mcp.tool(annotations=hints(read_only=True))
        async def search_indexes() -> CallToolResult:
            """Return the search indexes (RediSearch) with their document counts."""
            return result(await ops.search_indexes(store), "search indexes")

        @mcp.tool(annotations=hints(read_only=True))
        async def search(
            index: Annotated[str, Field(description="Index name.")],
            query: Annotated[str, Field(description="RediSearch query, e.g. @title:hello.")],
            offset: Annotated[int, Field(ge=0)] = 0,
            limit: Annotated[int, Field(ge=1, le=100)] = 10,
        ) -> CallToolResult:
            """Return documents of a search index matching a query, with the total count."""
            return result(
                await ops.search(store, index, query, offset=offset, limit=limit, max_chars=cap),
                f"search {index}",
            )

    # --- server -----------------------------------------------------------------------------------------
    if "server" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def server_info(
            section: Annotated[
                str,
                Field(description="INFO section: server, clients, memory, stats, replication, keyspace, ..."),
            ] = "default",
        ) -> CallToolResult:
            """Return one INFO section of the Redis server and the number of keys in the database."""
            return result(await ops.server_info(store, section), f"info {section}")

        @mcp.tool(annotations=hints(read_only=True))
        async def slowlog(count: Annotated[int, Field(ge=1, le=128)] = 20) -> CallToolResult:
            """Return the slowest recent commands recorded by Redis, with durations in microseconds."""
            return result(await ops.slowlog(store, count), "slowlog")

        @mcp.tool(annotations=hints(read_only=True))
        async def client_list() -> CallToolResult:
            """Return the connected clients: name, user, database, idle time, last command (no addresses)."""
            return result(await ops.client_list(store), "client list")

        @mcp.tool(annotations=hints(read_only=True))
        async def latency() -> CallToolResult:
            """Return latency spikes recorded by Redis and its LATENCY DOCTOR report."""
            return result(await ops.latency(store), "latency")

    # --- pub/sub ----------------------------------------------------------------------------------------
    if "pubsub" in on:

        @mcp.tool(annotations=hints(read_only=True))
        async def pubsub_channels(
            pattern: Annotated[str, Field(description="Glob for channel names.")] = "*",
        ) -> CallToolResult:
            """Return active channels and subscriber counts; each is the resource redis://channel/<name>."""
            return result(await ops.pubsub_channels(store, pattern), "pub/sub channels")

        if write:

            @mcp.tool(annotations=hints(read_only=False, destructive=False))
            async def publish(
                channel: Annotated[str, Field(description="Channel name.")],
                message: Annotated[str, Field(description="Message text.")],
            ) -> CallToolResult:
                """Publish a message on a channel; returns how many subscribers received it."""
                return done(await ops.publish(store, channel, message))

    # --- admin ------------------------------------------------------------------------------------------
    if policy.at_least("admin"):

        @mcp.tool(annotations=hints(read_only=False, destructive=True))
        async def command(
            args: Annotated[
                list[str],
                Field(
                    min_length=1, description='Command and arguments, e.g. ["CONFIG", "GET", "maxmemory"].'
                ),
            ],
        ) -> CallToolResult:
            """Run one Redis command from the operator's allow-list and return its reply."""
            return result(await ops.raw_command(store, args, max_chars=cap), f"command {args[0]}")

    # --- resources and subscriptions --------------------------------------------------------------------
    exempt = ResourceSecurity(
        reject_path_traversal=False, reject_absolute_paths=False, reject_null_bytes=True
    )

    @mcp.resource("redis://key/{key}", mime_type="application/json", security=exempt)
    async def key_resource(key: str) -> str:
        """A key's value (as the get tool returns it); subscribing announces each change (keyspace events)."""
        return wrap_untrusted(
            json.dumps(await ops.get_value(store, key, max_chars=cap), ensure_ascii=False), f"redis key {key}"
        )

    @mcp.resource("redis://channel/{channel}", mime_type="application/json", security=exempt)
    async def channel_resource(channel: str) -> str:
        """The latest messages on a pub/sub channel, kept while a client is subscribed to this resource."""
        uri = channel_uri(channel)
        data = {"channel": channel, "subscribed": hub.watching(uri), "messages": hub.messages(uri)}
        if not data["subscribed"] and not data["messages"]:
            data["note"] = "No messages buffered: subscribe to this resource to start collecting them."
        return wrap_untrusted(json.dumps(data, ensure_ascii=False), f"redis channel {channel}")

    legacy: dict[str, set[Any]] = {}

    async def notify(uri: str) -> None:
        for connection in list(legacy.get(uri, ())):
            try:
                await connection.send_resource_updated(uri)
            except Exception:  # the client went away: forget its subscription
                legacy.get(uri, set()).discard(connection)
                await hub.release(uri)
        await bus.publish(ResourceUpdated(uri=uri))

    hub.notify = notify

    async def forget(connection: Any) -> None:
        """A connection ended: drop every subscription it held."""
        for uri, connections in list(legacy.items()):
            if connection in connections:
                connections.discard(connection)
                await hub.release(uri)

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        # One connection, many per-request sessions: the connection is the subscriber.
        connection = connection_of(ctx)
        connections = legacy.setdefault(params.uri, set())
        if connection in connections:
            return EmptyResult()
        try:
            await hub.acquire(params.uri)
        except UserError as exc:
            raise MCPError(-32602, str(exc)) from None
        if not any(connection in c for c in legacy.values()) and hasattr(connection, "exit_stack"):
            connection.exit_stack.push_async_callback(forget, connection)
        connections.add(connection)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        connection = connection_of(ctx)
        connections = legacy.get(params.uri, set())
        if connection in connections:
            connections.discard(connection)
            await hub.release(params.uri)
        return EmptyResult()

    listen = ListenHandler(bus)

    async def listen_with_redis(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        uris = [u for u in params.notifications.resource_subscriptions or [] if u.startswith("redis://")]
        acquired = []
        try:
            for uri in uris:
                await hub.acquire(uri)
                acquired.append(uri)
            return await listen(ctx, params)
        finally:
            for uri in acquired:
                await hub.release(uri)

    low = mcp._lowlevel_server
    low.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen_with_redis)
    mcp.redis_store = store  # type: ignore[attr-defined]  # for tests and embedding: the guarded door
    mcp.redis_hub = hub  # type: ignore[attr-defined]
    return mcp


def main() -> None:
    """Console entry point: `patchbay-redis`."""
    serve(build, Settings)
