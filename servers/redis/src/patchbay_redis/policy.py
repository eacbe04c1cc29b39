"""Which Redis commands this server may send, decided before anything reaches Redis.

Three access tiers: `read` (the default) sends only commands that never change data, `write` adds the
commands that change keys and publish messages, `admin` adds the raw-command tool. Independently of the
tier, dangerous commands (flushes, CONFIG, SHUTDOWN, scripting, KEYS, ...) are refused unless the
operator names them in the allow-list. The raw-command tool runs allow-listed commands only.

A command is named by its first word, or by "WORD SUBCOMMAND" for container commands (`CLIENT KILL`,
`CONFIG SET`); naming the container allows every subcommand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from patchbay_common.errors import AccessDenied

__all__ = ["DANGEROUS", "READ_COMMANDS", "WRITE_COMMANDS", "Access", "Policy", "command_name"]

Access = Literal["read", "write", "admin"]
TIERS: tuple[Access, ...] = ("read", "write", "admin")

DANGEROUS = frozenset(
    {
        "FLUSHALL", "FLUSHDB", "CONFIG", "SHUTDOWN", "DEBUG", "REPLICAOF", "SLAVEOF", "MODULE",
        "SCRIPT", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FUNCTION", "FCALL", "FCALL_RO",
        "CLIENT KILL", "MIGRATE", "KEYS",
        # Also refused: they block the server, copy out the whole data set, or change users and roles.
        "MONITOR", "SYNC", "PSYNC", "SAVE", "BGSAVE", "BGREWRITEAOF", "SWAPDB", "FAILOVER",
        "CLIENT PAUSE", "ACL", "CLUSTER",
    }
)  # fmt: skip
"""Commands refused by every tool unless the operator allow-lists them."""

READ_COMMANDS = frozenset(
    {
        "PING", "SCAN", "TYPE", "TTL", "PTTL", "EXISTS", "MEMORY USAGE", "OBJECT ENCODING", "OBJECT FREQ",
        "OBJECT IDLETIME", "GET", "STRLEN", "GETRANGE", "MGET", "HLEN", "HSCAN", "HMGET", "HSTRLEN", "LLEN",
        "LRANGE", "SCARD", "SSCAN", "SMISMEMBER", "ZCARD", "ZRANGE", "ZSCAN", "ZMSCORE", "XLEN", "XRANGE",
        "XREVRANGE", "XINFO", "XPENDING", "JSON.GET", "JSON.TYPE", "FT._LIST", "FT.INFO", "FT.SEARCH",
        "INFO", "DBSIZE", "SLOWLOG GET", "SLOWLOG LEN", "CLIENT LIST", "LATENCY LATEST", "LATENCY DOCTOR",
        "LATENCY HISTORY", "PUBSUB", "COMMAND",
    }
)  # fmt: skip
"""What the read tools send."""

WRITE_COMMANDS = frozenset(
    {
        "SET", "UNLINK", "EXPIRE", "PERSIST", "RENAME", "RENAMENX", "INCRBY", "INCRBYFLOAT", "HSET",
        "HDEL", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "SREM", "ZADD", "ZREM", "XADD", "XACK",
        "JSON.SET", "JSON.DEL", "PUBLISH",
    }
)  # fmt: skip
"""What the write tools add."""

_CONTAINERS = frozenset(
    {"ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY", "MODULE"}
    | {"OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XINFO"}
)


def command_name(args: Sequence[object]) -> tuple[str, str | None]:
    """The command's first word and, for container commands, "WORD SUB" (both upper case)."""
    if not args:
        raise AccessDenied("No command was given.", hint="Pass the command name and its arguments.")
    first = _word(args[0])
    if first in _CONTAINERS and len(args) > 1:
        return first, f"{first} {_word(args[1])}"
    return first, None


def _word(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.strip().upper()


@dataclass(frozen=True)
class Policy:
    """The access tier and the operator's allow-list of otherwise dangerous commands."""

    access: Access = "read"
    allowed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, access: Access, allow: Iterable[str] = ()) -> Policy:
        """A policy from the `--access` tier and `--allow-command` names (case and spacing ignored)."""
        return cls(access, frozenset(" ".join(name.upper().split()) for name in allow if name.strip()))

    def at_least(self, tier: Access) -> bool:
        """Whether the operator's tier includes `tier`."""
        return TIERS.index(self.access) >= TIERS.index(tier)

    def is_allowed(self, word: str, full: str | None) -> bool:
        """Whether the operator allow-listed this command (or its container)."""
        return word in self.allowed or (full is not None and full in self.allowed)

    def check(self, args: Sequence[object], *, raw: bool = False) -> None:
        """Refuse the command unless this policy lets it through; nothing has been sent yet.

        Tools send fixed commands (`raw=False`): those must fit the tier and not be dangerous. The
        raw-command tool (`raw=True`, admin only) may send exactly the allow-listed commands.
        """
        word, full = command_name(args)
        shown = full or word
        if raw:
            if not self.at_least("admin"):
                raise AccessDenied(
                    "Raw commands need the admin access tier, which this server was not started with.",
                    hint="Use the typed tools, or ask the operator to start the server with --access admin.",
                )
            if not self.is_allowed(word, full):
                allowed = ", ".join(sorted(self.allowed)) or "none"
                raise AccessDenied(
                    f"{shown} is not in this server's command allow-list (allowed: {allowed}); "
                    "nothing was sent to Redis.",
                    hint="Use a typed tool, or ask the operator to add the command with --allow-command.",
                )
            return
        if (word in DANGEROUS or (full is not None and full in DANGEROUS)) and not self.is_allowed(
            word, full
        ):
            raise AccessDenied(
                f"{shown} is a dangerous command and is refused; nothing was sent to Redis.",
                hint="Ask the operator to allow-list it with --allow-command if it is really needed.",
            )
        if _listed(word, full, READ_COMMANDS):
            return
        if _listed(word, full, WRITE_COMMANDS):
            if self.at_least("write"):
                return
            raise AccessDenied(
                f"{shown} changes data, and this server is read-only; nothing was sent to Redis.",
                hint="Ask the operator to start the server with --access write.",
            )
        if self.is_allowed(word, full) and self.at_least("admin"):
            return
        raise AccessDenied(
            f"{shown} is not a command this server sends; nothing was sent to Redis.",
            hint="Use one of the listed tools.",
        )


def _listed(word: str, full: str | None, names: frozenset[str]) -> bool:
    return word in names or (full is not None and full in names)
