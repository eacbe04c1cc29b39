"""Start every server the way a client would and talk to it: the CI matrix runs this on each OS.

For each server: `--version`, `--help`, `config claude-desktop` (print only), then a stdio session with
raw JSON-RPC (initialize, notifications/initialized, tools/list) that must list tools. A server that
cannot run on this platform must say so in one line and exit 2 (the filesystem server on Windows, which
refuses rather than enforce roots weakly). Exit 1 with what failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def args_for(name: str, scratch: str) -> list[str]:
    """Flags that let a server start with no component running."""
    return {
        "filesystem": [scratch],
        "redis": ["--url", "redis://127.0.0.1:1/0"],
        "postgres": ["--dsn", "postgresql://nobody@127.0.0.1:1/none"],
    }.get(name, [])


def session(command: list[str]) -> tuple[int, list[str], str]:
    """Exit status, tool names and stderr of one initialize + tools/list exchange."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "smoke", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    ) as process:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        tools: list[str] = []
        try:
            process.stdin.write(json.dumps(messages[0]) + "\n")
            process.stdin.flush()
            if process.stdout.readline():
                for message in messages[1:]:
                    process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
                reply = json.loads(process.stdout.readline() or "{}")
                tools = [tool["name"] for tool in reply.get("result", {}).get("tools", [])]
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        return status, tools, process.stderr.read()


def main() -> int:
    """Smoke-test every server; exit 1 when one fails."""
    names = sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))
    failures: list[str] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_")}
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            base = [sys.executable, "-m", f"patchbay_{name.replace('-', '_')}"]
            for extra in (["--version"], ["--help"], ["config", "claude-desktop", "--source", "pypi"]):
                done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120, env=env)
                if done.returncode != 0 or "Traceback" in done.stderr:
                    failures.append(f"{name} {' '.join(extra)}: exit {done.returncode}: {done.stderr[-500:]}")
            status, tools, errors = session([*base, *args_for(name, scratch), "--log-level", "WARNING"])
            refused = status == 2 and "Traceback" not in errors and len(errors.strip().splitlines()) == 1
            if tools:
                print(f"{name}: {len(tools)} tools")
            elif refused and name == "filesystem" and sys.platform == "win32":
                print(f"{name}: refuses here, as it should: {errors.strip()}")
            else:
                failures.append(f"{name}: no tools listed (exit {status}): {errors[-800:]}")
    for failure in failures:
        print("FAILED", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
