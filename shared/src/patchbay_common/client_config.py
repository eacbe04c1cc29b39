"""`patchbay-<name> config <client>`: print or merge a server's entry into an MCP client's config file.

Clients: claude-desktop, claude-code, cursor, vscode, windsurf, each at its documented location for macOS,
Windows and Linux. The entry starts the server from where it can be found (`--source`):

    pypi    uvx patchbay-<name>                              (once released on PyPI)
    git     uvx --from git+https://...#subdirectory=servers/<name> patchbay-<name>
    local   uvx --from /abs/path/servers/<name> patchbay-<name>   (a clone; default when run from one)
    python  this interpreter: python -m patchbay_<name>      (the environment it is installed in)

Nothing is lost on `--write`:
- the server's arguments are parsed with the server's own settings first: an unknown flag, a bad value, a
  relative path or a missing directory is an error naming it, and nothing is written;
- secrets never go to `args` (visible in `ps`): a secret flag given after `--` moves to `env`;
- an existing entry is merged, not replaced: values the user filled in (a real token in place of a
  `<PLACEHOLDER>`, extra variables, client-specific keys) are kept; a placeholder never overwrites a value;
- placeholders are written only for the secrets a server needs, and for the optional ones asked for with
  `--secret NAME`;
- a symlinked config file is followed and its target updated; each write keeps a timestamped backup of the
  previous file next to it (never overwritten); the write is atomic (temporary file, then rename);
- VS Code's `mcp.json` may hold comments and trailing commas (JSONC): it is read, and the entry is spliced
  into the text so every comment stays. Other clients' files must be strict JSON; one that is not is
  refused, unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from patchbay_common.atomic import write_atomically

__all__ = [
    "CLIENTS",
    "ConfigProblem",
    "config_main",
    "config_path",
    "merge_entry",
    "parse_jsonc",
    "server_entry",
    "write_entry",
]

Platform = Literal["macos", "windows", "linux"]
Source = Literal["pypi", "git", "local", "python"]
REPOSITORY = "https://github.com/patchbay-mcp/patchbay"


class ConfigProblem(ValueError):
    """Something that stops the entry from being written, said in one line."""


@dataclass(frozen=True)
class ClientFormat:
    """Where a client keeps its MCP servers and how an entry looks there."""

    key: str  # top-level key holding the servers
    typed: bool  # entries carry "type": "stdio"
    jsonc: bool = False  # the client reads comments and trailing commas


CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat("mcpServers", typed=False),
    "claude-code": ClientFormat("mcpServers", typed=True),
    "cursor": ClientFormat("mcpServers", typed=False),
    "vscode": ClientFormat("servers", typed=True, jsonc=True),
    "windsurf": ClientFormat("mcpServers", typed=False),
}

_PLACEHOLDER = re.compile(r"^<[A-Z0-9_]+>$")
_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]*:[^/@\s]+@")


def _is_flag(text: str) -> bool:
    return text.startswith("--")


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


# --- where the server comes from ---------------------------------------------------------------------------


def source_folder(package: str) -> Path | None:
    """servers/<name> of the clone this package runs from, or None when it was installed from a wheel."""
    module = sys.modules.get(package.replace("-", "_"))
    if module is None or not getattr(module, "__file__", None):
        try:
            module = __import__(package.replace("-", "_"))
        except ImportError:
            return None
    folder = Path(str(module.__file__)).resolve().parent.parent.parent  # src/<module>/__init__.py
    project = folder / "pyproject.toml"
    if project.is_file() and f'name = "{package}"' in project.read_text(encoding="utf-8"):
        return folder
    return None


def launcher(package: str, source: Source, *, git_url: str = REPOSITORY, ref: str | None = None) -> list[str]:
    """The command line (without server arguments) that starts `package` from `source`."""
    if source == "pypi":
        return ["uvx", package]
    if source == "python":
        return [sys.executable, "-m", package.replace("-", "_")]
    name = package.removeprefix("patchbay-")
    if source == "git":
        url = git_url if git_url.startswith("git+") else f"git+{git_url}"
        return ["uvx", "--from", f"{url}{'@' + ref if ref else ''}#subdirectory=servers/{name}", package]
    folder = source_folder(package)
    if folder is None:
        raise ConfigProblem(
            f"--source local needs {package} to run from a clone of the repository (it is installed from "
            "a wheel here); use --source pypi, --source git, or --source python for this environment"
        )
    return ["uvx", "--from", str(folder), package]


def server_entry(
    package: str,
    client: str,
    *,
    local: bool = False,
    source: Source | None = None,
    server_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    git_url: str = REPOSITORY,
    ref: str | None = None,
) -> dict[str, Any]:
    """The JSON entry that starts `package` over stdio (`local`: this interpreter, like `--source python`)."""
    chosen: Source = source or ("python" if local else "pypi")
    command, *args = launcher(package, chosen, git_url=git_url, ref=ref)
    entry: dict[str, Any] = {"command": command, "args": [*args, *server_args]}
    if env:
        entry["env"] = dict(env)
    if CLIENTS[client].typed:
        entry = {"type": "stdio", **entry}
    return entry


# --- the server's own arguments ----------------------------------------------------------------------------


@dataclass
class CheckedArgs:
    """Server arguments after checking: what stays in `args`, what moves to `env`."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)


def check_server_args(
    settings_cls: Any, args: Sequence[str], env: dict[str, str], secret_vars: Sequence[str]
) -> CheckedArgs:
    """Parse `args` with the server's settings (as the client would start it); move secrets to `env`.

    Raises `ConfigProblem` naming the flag for an unknown flag, a bad value, a relative path, a missing
    directory or an unreadable file.
    """
    from pydantic import SecretStr, ValidationError
    from pydantic_settings import NoDecode, SettingsError

    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    fields: dict[str, Any] = settings_cls.model_fields
    secret_fields = {
        name
        for name, info in fields.items()
        if "SecretStr" in str(info.annotation) or f"{prefix}{name}".upper() in secret_vars
    }
    kept: list[str] = []
    moved: dict[str, list[str]] = {}
    index = 0
    while index < len(args):
        token = args[index]
        flag, eq, inline = token.partition("=")
        name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
        credentials = _CREDENTIALS_IN_URL.search(
            inline if eq else (args[index + 1] if index + 1 < len(args) else "")
        )
        if name in fields and (name in secret_fields or (credentials and not _is_flag(inline))):
            if eq:
                value = inline
            elif index + 1 < len(args):
                index += 1
                value = args[index]
            else:
                raise ConfigProblem(f"{flag} needs a value")
            moved.setdefault(name, []).append(value)
        else:
            kept.append(token)
        index += 1
    moved_env: dict[str, str] = {}
    for name, values in moved.items():
        info = fields[name]
        is_list = "list[" in str(info.annotation)
        no_decode = any(m is NoDecode for m in info.metadata)
        text = values[0] if len(values) == 1 and (not is_list or no_decode) else json.dumps(values)
        moved_env[f"{prefix}{name}".upper()] = text
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(prefix)},
        **{k: v for k, v in env.items() if not _PLACEHOLDER.match(v)},
        **moved_env,
    }
    with _environment(environment):
        try:
            settings = settings_cls(_cli_parse_args=kept)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]).replace("_", "-")
            raise ConfigProblem(f"server argument --{where}: {first['msg']}") from None
        except SettingsError as exc:
            text = str(exc.__cause__ or exc).removeprefix("error parsing CLI: ")
            raise ConfigProblem(f"server arguments: {text}") from None
        except SystemExit:
            raise ConfigProblem("server arguments: not understood (see the server's --help)") from None
    for name, value in settings:
        if name not in fields or isinstance(value, SecretStr):
            continue
        _check_paths(name, value, fields[name])
    return CheckedArgs(kept, moved_env, sorted(moved_env))


def _check_paths(name: str, value: Any, info: Any) -> None:
    """Paths in a client's config must be absolute (its working folder is unknown) and exist."""
    positional = any("Positional" in str(m) or "Positional" in type(m).__name__ for m in info.metadata)
    directory = positional or name.endswith(("_dir", "directories", "_path"))
    if not (directory or "Path" in str(info.annotation) or name.endswith("_file")):
        return
    shown = name.upper() if positional else "--" + name.replace("_", "-")
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        text = str(item)
        if "=" in text and not directory:
            text = text.split("=", 1)[1]
        path = Path(text)
        if not path.is_absolute():
            raise ConfigProblem(
                f"{shown} {item}: a relative path; the client starts servers from a folder of its own, "
                f"so give an absolute one (e.g. {Path(text).absolute()})"
            )
        if directory and not path.is_dir():
            reason = "is not a directory" if path.exists() else "does not exist"
            raise ConfigProblem(f"{shown} {item}: {reason}")
        if name.endswith("_file") and not path.is_file():
            raise ConfigProblem(f"{shown} {item}: no such file")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- merging -----------------------------------------------------------------------------------------------


def _is_placeholder(value: object) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def merge_entry(old: Any, new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`new` over `old`, keeping what the user filled in; also the names of the values kept."""
    if not isinstance(old, dict):
        return new, []
    merged = {**old, **new}
    kept: list[str] = []
    old_env: dict[str, Any] = old["env"] if isinstance(old.get("env"), dict) else {}
    new_env: dict[str, Any] = new.get("env") or {}
    if old_env or "env" in new:
        env = dict(old_env)
        for name, value in new_env.items():
            if _is_placeholder(value) and name in env and not _is_placeholder(env[name]):
                kept.append(name)
                continue
            env[name] = value
        kept += [name for name in old_env if name not in new_env]
        merged["env"] = env
    return merged, kept


# --- JSONC -------------------------------------------------------------------------------------------------


@dataclass
class _Node:
    value: Any
    start: int
    end: int
    members: dict[str, _Node] = field(default_factory=dict)
    open_brace: int = -1


class _Parser:
    """JSON with // and /* */ comments and trailing commas; objects remember where their members are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        line = self.text.count("\n", 0, self.pos) + 1
        return ValueError(f"{what} at line {line}")

    def skip(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unclosed comment")
                self.pos = end + 2
            else:
                return

    def value(self) -> _Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end")
        char = self.text[self.pos]
        start = self.pos
        if char == "{":
            return self.obj()
        if char == "[":
            self.pos += 1
            items: list[Any] = []
            while True:
                self.skip()
                if self.text.startswith("]", self.pos):
                    self.pos += 1
                    return _Node(items, start, self.pos)
                items.append(self.value().value)
                self.skip()
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                elif not self.text.startswith("]", self.pos):
                    raise self.fail("expected , or ]")
        decoder = json.JSONDecoder()
        try:
            parsed, end = decoder.raw_decode(self.text, self.pos)
        except json.JSONDecodeError:
            raise self.fail("not a JSON value") from None
        self.pos = end
        return _Node(parsed, start, end)

    def obj(self) -> _Node:
        node = _Node({}, self.pos, -1, open_brace=self.pos)
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                node.end = self.pos
                return node
            if not self.text.startswith('"', self.pos):
                raise self.fail("expected a quoted key")
            key = self.value().value
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.fail("expected :")
            self.pos += 1
            member = self.value()
            node.members[key] = member
            node.value[key] = member.value
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("}", self.pos):
                raise self.fail("expected , or }")

    def document(self) -> _Node:
        node = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("extra text after the document")
        return node


def parse_jsonc(text: str) -> Any:
    """The value of a JSON-with-comments document (ValueError naming the line when it is broken)."""
    return _Parser(text).document().value


def _indent_of(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    prefix = text[line_start:position]
    return prefix if not prefix.strip() else ""


def _splice(text: str, key: str, name: str, entry: dict[str, Any]) -> str:
    """`text` with `entry` at `key.name`, every other character (comments included) unchanged."""
    root = _Parser(text).document()
    servers = root.members.get(key)
    if servers is not None and name in servers.members:
        old = servers.members[name]
        indent = _indent_of(text, _line_start_of_key(text, old.start))
        rendered = _render(entry, indent)
        return text[: old.start] + rendered + text[old.end :]
    if servers is not None:
        inner = _member_indent(text, servers, root)
        rendered = f"\n{inner}{json.dumps(name)}: {_render(entry, inner)}"
        rendered += "," if servers.members else "\n" + _indent_of(text, servers.end - 1)
        return text[: servers.open_brace + 1] + rendered + text[servers.open_brace + 1 :]
    inner = _member_indent(text, root, None)
    block = {name: entry}
    rendered = f"\n{inner}{json.dumps(key)}: {_render(block, inner)}" + ("," if root.members else "\n")
    return text[: root.open_brace + 1] + rendered + text[root.open_brace + 1 :]


def _line_start_of_key(text: str, value_start: int) -> int:
    """Position of the first non-blank character on the line holding a member's key."""
    line_start = text.rfind("\n", 0, value_start) + 1
    return line_start + len(text[line_start:value_start]) - len(text[line_start:value_start].lstrip())


def _member_indent(text: str, node: _Node, parent: _Node | None) -> str:
    if node.members:
        first = next(iter(node.members.values()))
        return _indent_of(text, _line_start_of_key(text, first.start))
    outer = _indent_of(text, _line_start_of_key(text, node.start)) if parent is not None else ""
    return outer + "  "


def _render(value: Any, indent: str) -> str:
    return json.dumps(value, indent=2).replace("\n", "\n" + indent)


# --- writing -----------------------------------------------------------------------------------------------


@dataclass
class Written:
    """What `write_entry` did."""

    path: Path
    action: str  # "added", "updated", "unchanged"
    backup: Path | None
    kept: list[str]

    def message(self, name: str) -> str:
        """One line for the operator."""
        if self.action == "unchanged":
            return f"{self.path}: entry {name!r} already up to date; nothing written"
        text = f"{self.path}: entry {name!r} {self.action}"
        if self.kept:
            text += f"; kept your {', '.join(self.kept)}"
        if self.backup is not None:
            text += f" (previous file kept as {self.backup.name})"
        return text


def write_entry(path: Path, key: str, name: str, entry: dict[str, Any], *, jsonc: bool = False) -> Written:
    """Merge `entry` under `key.name` in the config file at `path`, following a symlink to its target."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    text = ""
    if target.exists():
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigProblem(f"{target} cannot be read ({exc}); not changed") from None
    document: Any = {}
    if text.strip():
        try:
            document = parse_jsonc(text) if jsonc else json.loads(text)
        except ValueError as exc:
            kind = "JSON (comments allowed)" if jsonc else "valid JSON"
            raise ConfigProblem(
                f"{target} is not {kind} ({exc}); fix or move it, then run this again"
            ) from None
    if not isinstance(document, dict) or not isinstance(document.get(key, {}), dict):
        raise ConfigProblem(f"{target} does not hold a JSON object with an object under {key!r}; not changed")
    servers = document.get(key, {})
    merged, kept = merge_entry(servers.get(name), entry)
    if servers.get(name) == merged:
        return Written(target, "unchanged", None, kept)
    action = "updated" if name in servers else "added"
    if text.strip():
        new_text = _splice(text, key, name, merged) if jsonc else None
        if new_text is None:
            document.setdefault(key, {})[name] = merged
            new_text = json.dumps(document, indent=2) + "\n"
    else:
        new_text = json.dumps({key: {name: merged}}, indent=2) + "\n"
    backup = _backup(target) if target.exists() else None
    _atomic_write(target, new_text)
    return Written(target, action, backup, kept)


def _backup(path: Path) -> Path:
    """A copy of `path` named with the time; never overwrites an earlier backup."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        suffix = f".{stamp}" + (f"-{attempt}" if attempt else "") + ".bak"
        backup = path.with_name(path.name + suffix)
        try:
            with open(backup, "xb") as out, open(path, "rb") as source:
                shutil.copyfileobj(source, out)
        except FileExistsError:
            continue
        shutil.copymode(path, backup)
        return backup
    raise ConfigProblem(f"cannot name a backup of {path}")  # pragma: no cover


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600)


# --- command ------------------------------------------------------------------------------------------------


def config_main(
    package: str,
    argv: Sequence[str],
    secret_env: Sequence[str] = (),
    *,
    optional_secrets: Sequence[str] = (),
    settings_cls: Any = None,
) -> int:
    """Run `<package> config ...`; return the exit status.

    `secret_env`: variables the server needs (written as `<NAME>` placeholders unless given);
    `optional_secrets`: secret variables written only when asked for with `--secret NAME` or `--env`.
    """
    folder = source_folder(package)
    parser = argparse.ArgumentParser(
        prog=f"{package} config",
        description="Print, or with --write merge, this server's entry in an MCP client's config file.",
        epilog="Arguments after -- are the server's own, checked before anything is written, e.g. "
        f"{package} config claude-desktop --write -- --log-level DEBUG",
    )
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--write", action="store_true", help="merge the entry into the client's config file")
    parser.add_argument(
        "--source",
        choices=["pypi", "git", "local", "python"],
        default=None,
        help="where the entry starts the server from: pypi (uvx, once released), git (uvx from the "
        "repository), local (uvx from this clone), python (this interpreter); default: "
        + ("local (this is a clone)" if folder else "pypi"),
    )
    parser.add_argument("--local", action="store_true", help="the same as --source python")
    parser.add_argument("--git-url", default=REPOSITORY, metavar="URL", help="repository for --source git")
    parser.add_argument("--ref", default=None, metavar="REF", help="tag, branch or commit for --source git")
    parser.add_argument(
        "--name", default=package.removeprefix("patchbay-"), help="entry name (default: %(default)s)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment for the server"
    )
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="also write this optional secret as a placeholder"
        + (f" ({', '.join(optional_secrets)})" if optional_secrets else ""),
    )
    parser.add_argument("--platform", choices=["macos", "windows", "linux"], default=current_platform())
    parser.add_argument(
        "--config-file", type=Path, default=None, metavar="PATH", help="write this file instead"
    )
    argv = list(argv)
    server_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    options = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    source: Source = "python" if options.local else (options.source or ("local" if folder else "pypi"))
    env = {name: f"<{name}>" for name in secret_env}
    for name in options.secret:
        if name not in optional_secrets and name not in secret_env:
            parser.error(
                f"--secret {name}: not an optional secret of {package} "
                f"(choose from {', '.join(optional_secrets) or 'none'})"
            )
        env[name] = f"<{name}>"
    for item in options.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    try:
        if settings_cls is not None:
            checked = check_server_args(settings_cls, server_args, env, [*secret_env, *optional_secrets])
            server_args, env = checked.args, {**env, **checked.env}
        entry = server_entry(
            package,
            options.client,
            source=source,
            server_args=server_args,
            env=env,
            git_url=options.git_url,
            ref=options.ref,
        )
        fmt = CLIENTS[options.client]
        if not options.write:
            sys.stdout.write(json.dumps({fmt.key: {options.name: entry}}, indent=2) + "\n")
            return 0
        path = options.config_file or config_path(options.client, options.platform)
        written = write_entry(path, fmt.key, options.name, entry, jsonc=fmt.jsonc)
    except (ConfigProblem, OSError) as exc:
        sys.stderr.write(f"{package} config: error: {exc}\n")
        return 2
    sys.stdout.write(written.message(options.name) + "\n")
    return 0
