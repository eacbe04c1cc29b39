"""`patchbay-<name> config <client>`: print or merge a server's entry into an MCP client's config file.

Clients: claude-desktop, claude-code, cursor, vscode, windsurf, each at its documented location for macOS,
Windows and Linux. `--write` merges the entry atomically (temporary file, then rename), keeps a `.bak`
of the previous file, leaves other entries untouched, does nothing when the entry is already there, and
refuses an existing file that is not valid JSON rather than overwrite it. Secrets are written as
placeholders unless given with `--env NAME=value`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["CLIENTS", "config_main", "config_path", "server_entry"]

Platform = Literal["macos", "windows", "linux"]


@dataclass(frozen=True)
class ClientFormat:
    """Where a client keeps its MCP servers and how an entry looks there."""

    key: str  # top-level key holding the servers
    typed: bool  # entries carry "type": "stdio"


CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat("mcpServers", typed=False),
    "claude-code": ClientFormat("mcpServers", typed=True),
    "cursor": ClientFormat("mcpServers", typed=False),
    "vscode": ClientFormat("servers", typed=True),
    "windsurf": ClientFormat("mcpServers", typed=False),
}


def current_platform() -> Platform:
    """This machine's platform family."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


def config_path(client: str, platform: Platform, environ: dict[str, str] | None = None) -> Path:
    """The documented user-level config file of `client` on `platform`."""
    env = os.environ if environ is None else environ
    home_dir = env.get("USERPROFILE") if platform == "windows" else None
    home = Path(home_dir or env.get("HOME") or Path.home())
    appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    app_support = home / "Library" / "Application Support"
    if client == "claude-desktop":
        base = {"macos": app_support, "windows": appdata, "linux": config_home}[platform]
        return base / "Claude" / "claude_desktop_config.json"
    if client == "vscode":
        base = {"macos": app_support, "windows": appdata, "linux": config_home}[platform]
        return base / "Code" / "User" / "mcp.json"
    if client == "claude-code":
        return home / ".claude.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "windsurf":
        return home / ".codeium" / "windsurf" / "mcp_config.json"
    raise ValueError(f"unknown client {client!r}; choose one of {', '.join(CLIENTS)}")


def server_entry(
    package: str,
    client: str,
    *,
    local: bool,
    server_args: Sequence[str],
    env: dict[str, str],
) -> dict[str, Any]:
    """The JSON entry that starts `package` over stdio: `uvx <package>`, or this interpreter with `local`."""
    module = package.replace("-", "_")
    command, args = (sys.executable, ["-m", module]) if local else ("uvx", [package])
    entry: dict[str, Any] = {"command": command, "args": [*args, *server_args]}
    if env:
        entry["env"] = dict(env)
    if CLIENTS[client].typed:
        entry = {"type": "stdio", **entry}
    return entry


def _merge(path: Path, key: str, name: str, entry: dict[str, Any]) -> str:
    """Merge `entry` under `key.name` in the JSON file at `path`; return what happened."""
    document: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path} is not valid JSON ({exc}); fix or move it, then run this again"
            ) from exc
        if not isinstance(loaded, dict) or not isinstance(loaded.get(key, {}), dict):
            raise ValueError(f"{path} does not hold a JSON object with an object under {key!r}; not changed")
        document = loaded
    servers = document.setdefault(key, {})
    if servers.get(name) == entry:
        return f"{path}: entry {name!r} already up to date; nothing written"
    action = "replaced" if name in servers else "added"
    servers[name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    backed_up = path.exists()
    if backed_up:
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return f"{path}: entry {name!r} {action}" + (" (previous file kept as .bak)" if backed_up else "")


def config_main(package: str, argv: Sequence[str], secret_env: Sequence[str] = ()) -> int:
    """Run `<package> config ...`; return the exit status."""
    parser = argparse.ArgumentParser(
        prog=f"{package} config",
        description="Print, or with --write merge, this server's entry in an MCP client's config file.",
    )
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--write", action="store_true", help="merge the entry into the client's config file")
    parser.add_argument("--local", action="store_true", help="start with this Python interpreter, not uvx")
    parser.add_argument(
        "--name", default=package.removeprefix("patchbay-"), help="entry name (default: %(default)s)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment for the server"
    )
    parser.add_argument("--platform", choices=["macos", "windows", "linux"], default=current_platform())
    parser.epilog = "Arguments after -- are passed to the server itself, e.g. -- ~/notes"
    argv = list(argv)
    server_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    options = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    env = {name: f"<{name}>" for name in secret_env}
    for item in options.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    entry = server_entry(package, options.client, local=options.local, server_args=server_args, env=env)
    key = CLIENTS[options.client].key
    if not options.write:
        sys.stdout.write(json.dumps({key: {options.name: entry}}, indent=2) + "\n")
        return 0
    path = config_path(options.client, options.platform)
    try:
        sys.stdout.write(_merge(path, key, options.name, entry) + "\n")
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"{package} config: error: {exc}\n")
        return 2
    return 0
