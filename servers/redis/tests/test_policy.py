"""The command policy on its own: tiers, the dangerous list, the allow-list, the raw-command rules."""

from __future__ import annotations

import pytest

from patchbay_common.errors import AccessDenied
from patchbay_redis.policy import DANGEROUS, Policy, command_name


def test_command_name_reads_container_subcommands() -> None:
    assert command_name(["get", "k"]) == ("GET", None)
    assert command_name(["client", "kill", "ID", "3"]) == ("CLIENT", "CLIENT KILL")
    assert command_name([b"config", b"set"]) == ("CONFIG", "CONFIG SET")
    with pytest.raises(AccessDenied):
        command_name([])


def test_read_tier_refuses_writes_before_sending() -> None:
    policy = Policy.of("read")
    policy.check(["GET", "k"])
    policy.check(["SCAN", "0"])
    with pytest.raises(AccessDenied, match="read-only"):
        policy.check(["SET", "k", "v"])
    Policy.of("write").check(["SET", "k", "v"])


@pytest.mark.parametrize(
    "args",
    [
        ["FLUSHALL"],
        ["flushdb"],
        ["CONFIG", "SET", "maxmemory", "1"],
        ["SHUTDOWN", "NOSAVE"],
        ["DEBUG", "SLEEP", "1"],
        ["REPLICAOF", "a", "1"],
        ["SLAVEOF", "a", "1"],
        ["MODULE", "LIST"],
        ["SCRIPT", "FLUSH"],
        ["EVAL", "return 1", "0"],
        ["FUNCTION", "LIST"],
        ["CLIENT", "KILL", "ID", "1"],
        ["MIGRATE", "h", "1", "k", "0", "1"],
        ["KEYS", "*"],
    ],
)
def test_dangerous_commands_are_refused_in_every_tier(args: list[str]) -> None:
    for tier in ("read", "write", "admin"):
        with pytest.raises(AccessDenied, match="dangerous"):
            Policy.of(tier).check(args)  # type: ignore[arg-type]


def test_allow_list_lets_a_named_dangerous_command_through() -> None:
    policy = Policy.of("admin", ["config get", "  KEYS "])
    policy.check(["CONFIG", "GET", "maxmemory"])
    policy.check(["KEYS", "*"])
    with pytest.raises(AccessDenied):
        policy.check(["CONFIG", "SET", "maxmemory", "1"])
    assert "CLIENT KILL" in DANGEROUS and "KEYS" in DANGEROUS


def test_raw_commands_need_admin_and_the_allow_list() -> None:
    with pytest.raises(AccessDenied, match="admin"):
        Policy.of("write", ["GET"]).check(["GET", "k"], raw=True)
    admin = Policy.of("admin", ["GET", "CONFIG GET"])
    admin.check(["get", "k"], raw=True)
    admin.check(["CONFIG", "GET", "x"], raw=True)
    with pytest.raises(AccessDenied, match="allow-list"):
        admin.check(["SET", "k", "v"], raw=True)
    with pytest.raises(AccessDenied, match="allow-list"):
        admin.check(["FLUSHALL"], raw=True)


def test_unknown_commands_are_not_sent() -> None:
    with pytest.raises(AccessDenied, match="not a command this server sends"):
        Policy.of("write").check(["OBJECT", "HELP"])
