"""Connect to Redis (URL, ACL user, TLS, Sentinel, Cluster) and send every command through one guarded door.

`Store.run` is the only way a tool reaches Redis: it checks the command against the `Policy` first (a
refused command is never sent), bounds it with a deadline, lets redis-py retry connection errors with
jittered exponential backoff (only for commands that are safe to repeat), and turns Redis failures into
`UserError`s a model can act on, with the password never in the text.

Redis Cluster (`--cluster`, or found by the start-up probe's `INFO cluster`) goes through redis-py's
`RedisCluster`: key commands are routed by hash slot (MOVED/ASK followed by redis-py), `primaries` and
`run_on` let a listing walk every primary in turn, the multi-key commands that are safe to split (UNLINK,
DEL, EXISTS, TOUCH) are split by slot and their counts added, and any other command whose keys span slots
is refused with a hint about hash tags.
"""

from __future__ import annotations

import re
import ssl
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import anyio

from patchbay_common.errors import AccessDenied, UserError, register_secret
from patchbay_common.logs import get_logger
from patchbay_redis.policy import Policy, command_name

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "REFUSED_EFFECT",
    "ConnectionOptions",
    "Modules",
    "Store",
    "describe",
    "probe_modules",
    "refused_name",
]

log = get_logger("patchbay.redis")

_SENTINELS: weakref.WeakKeyDictionary[Redis, list[Redis]] = weakref.WeakKeyDictionary()
"""The connections to the sentinels behind a Sentinel-managed client, closed with it (`close_client`)."""


@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to connect; built from the server's flags."""

    url: str = "redis://127.0.0.1:6379/0"
    username: str | None = None
    password: str | None = None
    db: int | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_insecure: bool = False
    sentinels: Sequence[str] = ()
    sentinel_service: str | None = None
    command_timeout: float = 5.0
    connect_timeout: float = 3.0
    retries: int = 3
    client_name: str | None = "patchbay-redis"
    cluster: bool = False
    """Talk to a Redis Cluster through redis-py's RedisCluster (the URL names any one node)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        register_secret(self.password)
        register_secret(urlsplit(self.url).password and unquote(urlsplit(self.url).password or ""))
        scheme = urlsplit(self.url).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"--url must start with redis://, rediss:// or unix:// (got {scheme or 'no'} scheme)"
            )
        if self.sentinels and not self.sentinel_service:
            raise ValueError("--sentinel needs --sentinel-service (the name of the monitored primary)")
        if self.cluster and self.sentinels:
            raise ValueError("--cluster and --sentinel exclude each other (a cluster has no sentinels)")
        if self.cluster and scheme == "unix":
            raise ValueError("--cluster needs a redis:// or rediss:// URL (cluster nodes talk TCP)")
        if self.cluster and self.database:
            raise ValueError(f"--cluster: Redis Cluster has database 0 only (got {self.database})")

    @property
    def user(self) -> str:
        """The ACL user the server logs in as ("default" when none is named)."""
        parts = urlsplit(self.url)
        return self.username or (unquote(parts.username) if parts.username else None) or "default"

    @property
    def database(self) -> int:
        """The database number: --db, else the URL's (path of redis://, db= of unix://), else 0."""
        if self.db is not None:
            return self.db
        parts = urlsplit(self.url)
        raw = dict(parse_qsl(parts.query)).get("db", "") if parts.scheme == "unix" else parts.path.lstrip("/")
        return int(raw) if raw.isdigit() else 0

    def kwargs(self, *, retries: int) -> dict[str, Any]:
        """Keyword arguments for a redis-py client or pool."""
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff

        options: dict[str, Any] = {
            "socket_timeout": self.command_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.1), retries),
            "retry_on_timeout": retries > 0,
            "health_check_interval": 30,
            **self.extra,
        }
        if self.client_name:
            options["client_name"] = self.client_name
        if self.username is not None:
            options["username"] = self.username
        if self.password is not None:
            options["password"] = self.password
        if self.db is not None:
            options["db"] = self.db
        if urlsplit(self.url).scheme == "rediss" or self.tls_ca_file or self.tls_cert_file:
            if self.tls_ca_file:
                options["ssl_ca_certs"] = self.tls_ca_file
            if self.tls_cert_file:
                options["ssl_certfile"] = self.tls_cert_file
            if self.tls_key_file:
                options["ssl_keyfile"] = self.tls_key_file
            if self.tls_insecure:
                options["ssl_cert_reqs"] = ssl.CERT_NONE
                options["ssl_check_hostname"] = False
        return options

    def client(self, *, retries: int | None = None) -> Redis:
        """A redis-py asyncio client (connections open lazily, on the first command)."""
        from redis.asyncio import Redis
        from redis.asyncio.sentinel import Sentinel

        kwargs = self.kwargs(retries=self.retries if retries is None else retries)
        if self.sentinels:
            nodes = [_host_port(node) for node in self.sentinels]
            sentinel_kwargs = {"socket_timeout": self.command_timeout}
            if self.password is not None:
                sentinel_kwargs["password"] = self.password  # type: ignore[assignment]
            # redis-py leaves Sentinel.__init__ unannotated (no-untyped-call).
            sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs, **kwargs)  # type: ignore[no-untyped-call]
            client: Redis = sentinel.master_for(self.sentinel_service or "", **kwargs)
            _SENTINELS[client] = list(sentinel.sentinels)  # closed with the client (close_client)
            return client
        if self.cluster:
            from redis.asyncio.cluster import RedisCluster

            kwargs.pop("db", None)
            kwargs.pop("retry_on_timeout", None)  # RedisCluster retries timeouts through `retry` itself
            cluster: Redis = RedisCluster.from_url(_without_db(self.url), **kwargs)  # type: ignore[assignment]
            return cluster
        return Redis.from_url(self.url, **kwargs)

    def node_client(self, host: str, port: int) -> Redis:
        """A plain client of one cluster node (same credentials and TLS), for its node-local pub/sub."""
        from redis.asyncio import Redis

        parts = urlsplit(self.url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
        kwargs = self.kwargs(retries=self.retries)
        kwargs.pop("db", None)
        return Redis.from_url(urlunsplit(parts._replace(netloc=netloc, path="")), **kwargs)


async def close_client(client: Redis) -> None:
    """Close a client's pool, and for Sentinel the connections to the sentinels too."""
    await client.aclose()
    for sentinel in _SENTINELS.pop(client, ()):
        await sentinel.aclose()


def _name(raw: object) -> str:
    return (raw.decode() if isinstance(raw, bytes) else str(raw)).lower()


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--sentinel takes host:port (got {node!r})")
    return host.strip("[]"), int(port)


def describe(options: ConnectionOptions) -> str:
    """Where the server connects, without credentials: `redis://host:port/db`."""
    if options.sentinels:
        return f"sentinel service {options.sentinel_service} via {', '.join(options.sentinels)}"
    parts = urlsplit(options.url)
    where = parts.hostname or parts.path or "?"
    if parts.port:
        where = f"{where}:{parts.port}"
    db = options.db if options.db is not None else (parts.path.lstrip("/") or "0")
    return f"{parts.scheme}://{where}/{db}" if parts.scheme != "unix" else f"unix://{where}"


@dataclass(frozen=True)
class Modules:
    """What the server found at start: Redis modules, and commands its ACL user may not run."""

    json: bool = False
    search: bool = False
    reachable: bool = True
    cluster: bool = False
    """Redis answered `cluster_enabled:1` to INFO cluster: the server talks to it as a cluster."""
    refused: tuple[str, ...] = ()
    """ACL names ("info", "command|info", "client|setname") Redis answered NOPERM for at start."""


REFUSED_EFFECT = {
    "command|info": "RedisJSON and RediSearch cannot be detected, so their tools are not listed",
    "info": "server_info answers that the ACL user may not run INFO; the other tools work",
    "client|setname": "the server's connections stay unnamed in CLIENT LIST",
}
"""What the server does without each command its start-up probe may find refused."""


def probe_modules(options: ConnectionOptions) -> Modules:
    """Log in at start, see which module commands Redis knows and which commands the ACL user may run.

    The probe sends CLIENT SETNAME, SELECT (for a database other than 0), COMMAND INFO (no MODULE LIST
    permission needed) and INFO cluster (whose `cluster_enabled:1` turns cluster mode on). Plain
    `redis://` and `unix://` connections are probed over a raw socket, so start-up does not pay for
    importing redis-py (about 0.3 s); TLS and Sentinel go through redis-py.
    An unreachable Redis is not fatal (it may come up later): the module tools are then not listed. A
    command the ACL user may not run is not fatal either: the server starts with what it can do, and logs
    the command and the ACL grant it needs. Fatal are a refused login and a refused SELECT.

    Raises:
        UserError: Redis rejected the credentials, or the database the server must use.
    """
    scheme = urlsplit(options.url).scheme
    try:
        if scheme in ("redis", "unix") and not options.sentinels:
            names, refused, cluster = _probe_raw(options)
        else:
            names, refused, cluster = _probe_with_redis_py(options)
    except _LoginRefused as exc:
        raise UserError(
            f"Redis at {describe(options)} refused the login of user {options.user!r}: {exc}",
            hint="Check the username and password (--username, --password, --password-file or the URL).",
        ) from None
    except _SelectRefused as exc:
        raise UserError(
            f"Redis at {describe(options)} accepted the login of user {options.user!r} but refused SELECT "
            f"{options.database}, which this server needs to use database {options.database}: {exc}",
            hint=f"Grant it with: ACL SETUSER {options.user} +select, or use database 0.",
        ) from None
    except (OSError, _ProbeError) as exc:
        log.warning(
            "Redis not reachable at start; module tools not listed", where=describe(options), error=str(exc)
        )
        return Modules(reachable=False)
    for command in sorted(refused):
        log.warning(
            "the Redis ACL user may not run a command this server uses; starting without it",
            command=command.upper().replace("|", " "),
            user=options.user,
            effect=REFUSED_EFFECT.get(command, "tools that need it answer that it is not allowed"),
            grant=f"ACL SETUSER {options.user} +{command}",
        )
    return Modules(
        json="json.get" in names,
        search="ft.search" in names,
        cluster=cluster,
        refused=tuple(sorted(refused)),
    )


class _LoginRefused(Exception):
    pass


class _SelectRefused(Exception):
    pass


class _ProbeError(Exception):
    pass


_COMMAND_INFO = ["COMMAND", "INFO", "JSON.GET", "FT.SEARCH"]
_NOPERM_NAME = re.compile(r"run the '([^']+)' command")


def refused_name(message: str, fallback: str) -> str:
    """The ACL name of the command a NOPERM error names ('info', 'command|info'), else `fallback`."""
    found = _NOPERM_NAME.search(message)
    return found.group(1).lower() if found else fallback


def _probe_steps(
    send: Callable[[list[str]], Any], options: ConnectionOptions
) -> tuple[set[str], set[str], bool]:
    """Run the start-up probe through `send` (which returns a reply or a `_RespError`)."""
    refused: set[str] = set()

    def step(args: list[str], name: str) -> Any:
        reply = send(args)
        if not isinstance(reply, _RespError):
            return reply
        if reply.startswith(("NOAUTH", "WRONGPASS")):
            raise _LoginRefused(str(reply))
        if name == "select":
            raise _SelectRefused(str(reply))
        if reply.startswith("NOPERM"):
            refused.add(refused_name(reply, name))
            return None
        raise _ProbeError(str(reply))

    if options.client_name:
        step(["CLIENT", "SETNAME", options.client_name], "client|setname")
    if options.database:
        step(["SELECT", str(options.database)], "select")
    info = step(_COMMAND_INFO, "command|info")
    about = step(["INFO", "cluster"], "info")
    names = {_name(entry[0]) for entry in info or [] if isinstance(entry, list | tuple) and entry}
    text = about.decode(errors="replace") if isinstance(about, bytes) else str(about or "")
    return names, refused, "cluster_enabled:1" in text


def _probe_with_redis_py(options: ConnectionOptions) -> tuple[set[str], set[str], bool]:
    import redis
    from redis.exceptions import AuthenticationError, ResponseError

    kwargs = options.kwargs(retries=0)
    kwargs.pop("retry")
    # The probe names the connection and selects the database itself, to see which of those Redis refuses.
    kwargs.pop("client_name", None)
    kwargs.pop("db", None)
    try:
        if options.sentinels:
            from redis.sentinel import Sentinel

            # redis-py leaves Sentinel.__init__ and master_for unannotated (no-untyped-call).
            sentinel = Sentinel([_host_port(n) for n in options.sentinels], **kwargs)  # type: ignore[no-untyped-call]
            client = sentinel.master_for(options.sentinel_service or "", **kwargs)  # type: ignore[no-untyped-call]
        else:
            client = redis.Redis.from_url(_without_db(options.url), **kwargs)
        with client:
            # Raw send/read: redis-py's COMMAND INFO parser fails on the nil entries of unknown commands.
            conn = client.connection_pool.get_connection()

            def send(args: list[str]) -> Any:
                conn.send_command(*args)
                try:
                    return conn.read_response()
                except ResponseError as exc:
                    return _RespError(str(exc))

            try:
                return _probe_steps(send, options)
            finally:
                client.connection_pool.release(conn)
    except AuthenticationError as exc:
        raise _LoginRefused(str(exc)) from None
    except ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise _LoginRefused(str(exc)) from None
        raise _ProbeError(str(exc)) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise _ProbeError(str(exc)) from None


def _without_db(url: str) -> str:
    """The URL without its database (path of redis:// and rediss://, db= of unix://)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "db"])
        return urlunsplit(parts._replace(query=query))
    return urlunsplit(parts._replace(path=""))


def _probe_raw(options: ConnectionOptions) -> tuple[set[str], set[str], bool]:
    """The start-up probe over a plain socket in RESP2 (AUTH first when credentials are set)."""
    import socket

    parts = urlsplit(options.url)
    username = options.username or (unquote(parts.username) if parts.username else None)
    password = options.password or (unquote(parts.password) if parts.password else None)
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(options.connect_timeout)
        sock.connect(parts.path)
    else:
        sock = socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), options.connect_timeout
        )
    with sock, sock.makefile("rb") as reader:
        sock.settimeout(options.command_timeout)
        if password is not None:
            sock.sendall(_encode(["AUTH", *([username] if username else []), password]))
            reply = _read(reader)
            if isinstance(reply, _RespError):
                raise _LoginRefused(str(reply))

        def send(args: list[str]) -> Any:
            sock.sendall(_encode(args))
            return _read(reader)

        return _probe_steps(send, options)


def login_problem(options: ConnectionOptions, timeout: float = 1.5) -> str | None:
    """Why the server could not log in to Redis right now (one phrase, never the password), or None.

    The start-up check: a connection within `timeout` seconds, AUTH when credentials are set, then PING,
    over a plain socket (no redis-py import). `rediss://` is checked for reachability only (TLS needs
    redis-py), a Sentinel setup not at all (the module probe resolves the primary).
    """
    import socket

    if options.sentinels:
        return None
    parts = urlsplit(options.url)
    where = describe(options)
    username = options.username or (unquote(parts.username) if parts.username else None)
    password = options.password or (unquote(parts.password) if parts.password else None)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(parts.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout)
    except TimeoutError:
        return f"Redis at {where} did not answer within {timeout:g} s"
    except OSError as exc:
        return f"Redis at {where} is not reachable ({exc.strerror or type(exc).__name__})"
    if parts.scheme == "rediss":
        sock.close()
        return None
    try:
        with sock, sock.makefile("rb") as reader:
            if password is not None:
                sock.sendall(_encode(["AUTH", *([username] if username else []), password]))
                reply = _read(reader)
                if isinstance(reply, _RespError):
                    if "without any password configured" in reply:
                        return f"Redis at {where} has no password set but one was given; remove the password"
                    return f"Redis at {where} refused the login of user {options.user!r} (wrong password?)"
            sock.sendall(_encode(["PING"]))
            reply = _read(reader)
    except (OSError, _ProbeError) as exc:
        return f"Redis at {where} did not answer PING ({exc})"
    if isinstance(reply, _RespError) and reply.startswith("NOAUTH"):
        return f"Redis at {where} needs a password and none was given"
    return None


class _RespError(str):
    pass


def _encode(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _read(reader: Any) -> Any:
    """One RESP2 reply: strings, errors, integers, bulk strings and (nested) arrays."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise _ProbeError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return _RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_read(reader) for _ in range(size)]
    raise _ProbeError(f"unexpected reply {line[:20]!r}")


class Store:
    """The guarded door to Redis: policy check, deadline, retries, and errors a model can act on."""

    def __init__(self, options: ConnectionOptions, policy: Policy, refused: Sequence[str] = ()) -> None:
        self.options = options
        self.policy = policy
        self.where = describe(options)
        self.refused = frozenset(refused)
        """ACL names Redis refused this user at start: refused here, with the grant to ask for, unsent."""
        self._safe: Redis | None = None
        self._once: Redis | None = None

    @property
    def client(self) -> Redis:
        """The client whose commands are retried on connection errors (idempotent commands)."""
        if self._safe is None:
            self._safe = self.options.client()
        return self._safe

    @property
    def client_no_retry(self) -> Redis:
        """The client for commands that must not run twice (INCRBY, LPUSH, XADD, PUBLISH, ...)."""
        if self._once is None:
            self._once = self.options.client(retries=0)
        return self._once

    @property
    def cluster(self) -> bool:
        """Whether this server talks to a Redis Cluster."""
        return self.options.cluster

    async def primaries(self) -> list[Any]:
        """The cluster's primaries in a stable order (by host:port); `[None]` (this one Redis) otherwise.

        A listing's cursor holds an index into this list, so the order must not depend on discovery.
        """
        if not self.cluster:
            return [None]
        client: Any = self.client
        await self._guarded(client.initialize(), "CLUSTER SLOTS")
        return sorted(client.get_primaries(), key=lambda node: (node.host, int(node.port)))

    async def run_on(self, node: Any, *args: Any) -> Any:
        """Send one read command to one primary (`None`: as `run`), policy-checked like `run`."""
        if node is None:
            return await self.run(*args)
        self.policy.check(args)
        self._check_refused(args)
        call = self.client.execute_command(*args, target_nodes=node)  # type: ignore[no-untyped-call]
        reply = await self._guarded(call, command_name(args)[1] or command_name(args)[0])
        if args and str(args[0]).upper() == "SCAN" and isinstance(reply[0], dict):
            # redis-py's cluster SCAN answers ({node name: cursor}, keys) even for one node.
            return [next(iter(reply[0].values())), reply[1]]
        return reply

    async def run_everywhere(self, *args: Any) -> list[Any]:
        """One read command on every primary (one Redis: just there), the replies in `primaries` order."""
        return [await self.run_on(node, *args) for node in await self.primaries()]

    async def run(self, *args: Any, idempotent: bool = True, raw: bool = False) -> Any:
        """Send one command if the policy allows it, within the command deadline.

        In a cluster, UNLINK, DEL, EXISTS and TOUCH over keys of several hash slots are split by slot (each
        part is atomic on its node) and their counts added; other commands go as they are.
        """
        self.policy.check(args, raw=raw)
        self._check_refused(args)
        word = str(args[0]).upper() if args else ""
        if self.cluster and word in _SPLITTABLE and len(args) > 2:
            return await self._split_by_slot(word, args[1:], idempotent=idempotent)
        client = self.client if idempotent else self.client_no_retry
        if self.cluster and word in _NODE_COMMANDS:
            # Keyless commands redis-py cannot route by itself: the node the URL names (the default node).
            cluster: Any = client
            await self._guarded(cluster.initialize(), "CLUSTER SLOTS")
            call = cluster.execute_command(*args, target_nodes=cluster.get_default_node())
            return await self._guarded(call, command_name(args)[1] or word)
        name = command_name(args)
        # redis-py leaves Redis.execute_command unannotated (no-untyped-call); its reply is Any anyway.
        call = client.execute_command(*args)  # type: ignore[no-untyped-call]
        return await self._guarded(call, name[1] or name[0])

    async def _split_by_slot(self, word: str, keys: Sequence[Any], *, idempotent: bool) -> int:
        client: Any = self.client if idempotent else self.client_no_retry
        groups: dict[int, list[Any]] = {}
        for key in keys:
            groups.setdefault(client.keyslot(key), []).append(key)
        total = 0
        for group in groups.values():
            total += int(await self._guarded(client.execute_command(word, *group), word))
        return total

    def _check_refused(self, args: Sequence[Any]) -> None:
        """Refuse, before sending, a command Redis already refused this ACL user at start."""
        if not self.refused:
            return
        word, full = command_name(args)
        for name in (word.lower(), (full or "").lower().replace(" ", "|")):
            if name in self.refused:
                raise AccessDenied(
                    f"The Redis ACL user {self.options.user!r} of this server may not run "
                    f"{name.upper().replace('|', ' ')} (Redis answered NOPERM when the server started); "
                    "nothing was sent to Redis.",
                    hint=f"The other tools work. The operator can grant it with: "
                    f"ACL SETUSER {self.options.user} +{name}",
                )

    def no_permission(self, shown: str, message: str) -> UserError:
        """A NOPERM answer as text a model (and the operator reading it) can act on."""
        user = self.options.user
        if "access a key" in message or "access a channel" in message:
            what = "key" if "key" in message else "channel"
            return AccessDenied(
                f"Redis refused {shown}: the ACL user {user!r} of this server may not access this {what} "
                f"({message}).",
                hint=f"Use another {what}; the user's {what} patterns (ACL ~ or &) do not include it.",
            )
        name = refused_name(message, shown.lower().replace(" ", "|"))
        return AccessDenied(
            f"Redis refused {shown}: the ACL user {user!r} of this server may not run "
            f"{name.upper().replace('|', ' ')} ({message}).",
            hint=f"Use another tool; the operator can grant it with: ACL SETUSER {user} +{name}",
        )

    async def _guarded(self, call: Any, shown: str) -> Any:
        import redis
        from redis.exceptions import (
            AuthenticationError,
            NoPermissionError,
            RedisClusterException,
            ResponseError,
        )

        deadline = self.options.command_timeout * (self.options.retries + 2)
        try:
            with anyio.fail_after(deadline):
                return await call
        except TimeoutError:
            raise UserError(
                f"Redis at {self.where} did not answer {shown} within {deadline:g} s.",
                hint="Try again in a moment; if it persists, Redis is overloaded or unreachable.",
            ) from None
        except AuthenticationError as exc:
            raise UserError(
                f"Redis at {self.where} refused the login ({exc}).",
                hint="The operator must fix the username or password; retrying will not help.",
            ) from None
        except NoPermissionError as exc:
            raise self.no_permission(shown, str(exc)) from None
        except RedisClusterException as exc:
            if "same key slot" in str(exc) or "same slot" in str(exc):
                raise _cross_slot(shown) from None
            raise UserError(f"Redis Cluster at {self.where} could not run {shown}: {exc}.") from None
        except ResponseError as exc:
            message = str(exc)
            if message.startswith("CROSSSLOT"):
                raise _cross_slot(shown) from None
            if message.startswith("WRONGTYPE"):
                raise UserError(
                    f"{shown} does not work on this key's type ({message}).",
                    hint="Call key_info to see the key's type, then use the tool for that type.",
                ) from None
            raise UserError(f"Redis answered {shown} with an error: {message}.") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise UserError(
                f"Redis at {self.where} is not reachable ({type(exc).__name__}: {exc}).",
                hint="It may be restarting; try again in a few seconds.",
            ) from None

    async def pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send several read commands in one round trip (each checked first); errors come back in place."""
        for args in commands:
            self.policy.check(args)
            self._check_refused(args)
        if self.cluster and any(str(args[0]).upper() in _NODE_COMMANDS for args in commands):
            replies: list[Any] = []
            for args in commands:  # node-level reads: one by one on the default node, errors in place
                try:
                    replies.append(await self.run(*args))
                except UserError as exc:
                    replies.append(exc)
            return replies
        pipe = self.client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        return list(await self._guarded(pipe.execute(raise_on_error=False), "pipeline"))

    async def aclose(self) -> None:
        """Close the connection pools (of every node, for a cluster)."""
        for client in (self._safe, self._once):
            if client is not None:
                await close_client(client)
        self._safe = self._once = None


_NODE_COMMANDS = frozenset({"SLOWLOG", "CLIENT", "LATENCY"})
"""Keyless commands redis-py's cluster client has no route for; in a cluster they go to the default node."""

_SPLITTABLE = frozenset({"UNLINK", "DEL", "EXISTS", "TOUCH"})
"""Multi-key commands whose parts may run per hash slot with the same result (counts added)."""


def _cross_slot(shown: str) -> UserError:
    return UserError(
        f"{shown} was refused: its keys live in different hash slots of the Redis Cluster, and one command "
        "can only work on keys of one slot; nothing was changed.",
        hint="Use keys with the same hash tag (the part in braces: {user:1}:name and {user:1}:mail share a "
        "slot), or work on one key at a time.",
    )
