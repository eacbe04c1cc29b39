"""Clients nobody here wrote drive every registered server: the MCP Inspector CLI and the TypeScript SDK.

Over stdio (the client spawns the server) and streamable HTTP (the pool's long-lived server), each lists
the tools and makes the server's read-only smoke call (`ServerSpec.smoke_call`, or the first read-only tool
that needs no argument). An isError answer counts as understood (an unconfigured server refuses politely);
a protocol error, a crash or a timeout does not. The Inspector makes one request per process, so over
stdio it only calls the tool (the TypeScript client lists over stdio).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import node_tools
import pytest
from hardening import HttpPool, listed_tools, smoke_call

from patchbay_common.testing.clients import Launch
from registry import SPECS, ServerSpec, TestEnv, spec_id


def start_node(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start a Node client (several run at once: each spends most of its time starting up)."""
    return subprocess.Popen(
        [node_tools.node(), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**node_tools.node_env(), "PATCHBAY_TS_SDK": str(node_tools.SDK)},
    )


def json_output(process: subprocess.Popen[bytes]) -> Any:
    """Wait for a Node client started by `start_node`; its stdout is JSON."""
    out, err = process.communicate(timeout=90)
    argv = [str(a) for a in process.args][1:4]  # type: ignore[union-attr]
    assert process.returncode == 0, f"{argv} exited {process.returncode}:\n{err.decode()[-3000:]}"
    return json.loads(out)


def stdio_argv(launch: Launch) -> list[str]:
    """The server's command line with an absolute console script (Node spawns it without our PATH)."""
    return [node_tools.which(launch.command), *launch.args]


def inspector(target: list[str], *method: str) -> subprocess.Popen[bytes]:
    """One Inspector CLI request (`--method ...`) against a command line or a URL."""
    return start_node([str(node_tools.require(node_tools.INSPECTOR_CLI)), *target, *method])


def with_env(launch: Launch) -> list[str]:
    """The server's command line run through env(1): the launch's variables reach it whatever the client."""
    return ["/usr/bin/env", *(f"{key}={value}" for key, value in launch.env.items()), *stdio_argv(launch)]


def tool_call_flags(tool: str, arguments: dict[str, Any]) -> list[str]:
    flags = ["--method", "tools/call", "--tool-name", tool]
    for key, value in arguments.items():
        flags += ["--tool-arg", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return flags


def check_call_result(spec: ServerSpec, result: dict[str, Any]) -> None:
    """A tool result with text content (isError allowed: it is still a well-formed answer)."""
    assert isinstance(result.get("content"), list) and result["content"], f"{spec.name}: no content: {result}"
    assert all(block.get("type") for block in result["content"])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_inspector_cli_and_typescript_sdk(
    spec: ServerSpec, server_envs: dict[str, TestEnv], http_pool: HttpPool
) -> None:
    tool, arguments = smoke_call(spec)
    names = sorted(t["name"] for t in listed_tools(spec))
    command = with_env(spec.launch(server_envs[spec.name]))
    url = http_pool.get(spec).url
    client = str(node_tools.require(node_tools.TS_CLIENT))
    call = tool_call_flags(tool, arguments)
    runs = {
        "ts stdio": start_node([client, "stdio", json.dumps(command), "{}", tool, json.dumps(arguments)]),
        "ts http": start_node([client, "http", url, "{}", tool, json.dumps(arguments)]),
        "inspector http list": inspector([url, "--transport", "http"], "--method", "tools/list"),
        "inspector http call": inspector([url, "--transport", "http"], *call),
        "inspector stdio call": inspector(command, *call),
    }
    out = {name: json_output(process) for name, process in runs.items()}
    for name in ("ts stdio", "ts http"):
        assert out[name]["server"]["name"] == f"patchbay-{spec.name}"
        assert sorted(out[name]["tools"]) == names, name
        assert out[name]["call"]["text"], f"{name}: {tool} answered no text"
    assert out["ts stdio"]["call"]["isError"] == out["ts http"]["call"]["isError"]
    assert sorted(t["name"] for t in out["inspector http list"]["tools"]) == names
    check_call_result(spec, out["inspector http call"])
    check_call_result(spec, out["inspector stdio call"])
