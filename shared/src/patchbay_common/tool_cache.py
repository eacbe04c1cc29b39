"""Tool schemas kept on disk between starts, so a start builds no pydantic model for a tool.

For every tool it registers, the SDK builds a pydantic model of the tool's arguments and that model's JSON
schema: about 1.5 ms a tool, most of a start's own work for a server with twenty tools. `CachedTools`, the
tool manager of every `PatchbayServer`, lists a tool from the schema an earlier start wrote instead, and
builds the tool's argument model when the tool is first called (or looked up). A cached schema is used only
while nothing it was built from has changed:

- the tool's name, module, qualified name, structured-output choice and signature;
- the source files of the tool's package and of patchbay_common (size and modification time, which is how
  Python decides whether its bytecode is current);
- the versions of Python and pydantic, and the SDK's tool modules.

A tool defined inside a function (whose schema may depend on the run) is never cached. The first call of a
cached tool checks its schema against the one the SDK builds; a difference is logged and the entry dropped.

The cache lives in `$PATCHBAY_CACHE_DIR`, else the user's cache directory (`$XDG_CACHE_HOME/patchbay` or
`~/.cache/patchbay`; `~/Library/Caches/patchbay` on macOS; `patchbay` in `%LOCALAPPDATA%` on Windows), one
file per server, readable by its owner only. `PATCHBAY_CACHE_DIR=off` turns it off. A directory that cannot be
written leaves every start building the schemas as before.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pydantic_core
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp.server.mcpserver.utilities import func_metadata
from mcp_types import Icon, ToolAnnotations

from patchbay_common.atomic import write_atomically
from patchbay_common.logs import get_logger

__all__ = ["CachedTools", "PendingTool", "SchemaCache", "cache_dir"]

_FORMAT = 1
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # a function's repr in a default: not the same in two runs
_OFF = {"", "0", "off", "no", "none", "false"}

log = get_logger("patchbay.tool_cache")

Schema = dict[str, Any]


def cache_dir() -> Path | None:
    """Where patchbay keeps its caches; None when `PATCHBAY_CACHE_DIR` turns them off or no home is known."""
    chosen = os.environ.get("PATCHBAY_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else Path(chosen)
    try:
        if sys.platform == "win32":
            local = os.environ.get("LOCALAPPDATA")
            return Path(local) / "patchbay" if local else None
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Caches" / "patchbay"
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "patchbay"
    except RuntimeError:  # no home directory
        return None


def _stat_line(label: str, found: os.stat_result | None) -> str:
    """One file's line of a fingerprint: its size and modification time (how Python checks bytecode)."""
    return f"{label}\0missing\n" if found is None else f"{label}\0{found.st_size}\0{found.st_mtime_ns}\n"


def _file_line(path: str, label: str) -> str:
    try:
        return _stat_line(label, os.stat(path))
    except OSError:
        return _stat_line(label, None)


@functools.cache
def _package_fingerprint(package: str) -> str:
    """Size and modification time of every .py file of an imported top-level package (or module)."""
    module = sys.modules.get(package)
    if module is None:
        return "unknown"
    digest = hashlib.sha256()
    roots = list(getattr(module, "__path__", []))
    if not roots:
        return hashlib.sha256(_file_line(str(getattr(module, "__file__", "")), package).encode()).hexdigest()
    pending = [(root, "") for root in roots]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file():
                digest.update(_stat_line(prefix + entry.name, entry.stat()).encode())
            elif entry.name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, f"{prefix}{entry.name}/"))
    return digest.hexdigest()


@functools.cache
def _runtime_fingerprint() -> str:
    """Python, pydantic, and the SDK modules that turn a function into a schema."""
    parts = [
        sys.version,
        pydantic.VERSION,
        pydantic_core.__version__,
        _file_line(inspect.getfile(Tool), "tool"),
        _file_line(inspect.getfile(func_metadata), "func_metadata"),
        _package_fingerprint("patchbay_common"),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _ours(found: os.stat_result) -> bool:
    """Whether a cache file or directory is this user's and no one else can write it (true on Windows)."""
    if not hasattr(os, "getuid"):
        return True
    return found.st_uid == os.getuid() and not found.st_mode & 0o022


class SchemaCache:
    """One server's cached tool schemas in one JSON file: `{tool name: {key, schemas}}`.

    `schemas` is the JSON text of `[input schema, output schema]`, parsed only when its tool is registered.
    """

    def __init__(self, path: Path | None, entries: dict[str, Any] | None = None) -> None:
        self.path = path
        self._entries: dict[str, Any] = entries or {}
        self._dirty = False

    @classmethod
    def load(cls, server: str) -> SchemaCache:
        """The cache of server `server` as the last start left it (empty when missing, unreadable, or off)."""
        directory = cache_dir()
        if directory is None:
            return cls(None)
        path = directory / f"tools-{re.sub(r'[^A-Za-z0-9_.-]', '_', server)}.json"
        try:
            with open(path, "rb") as file:
                if not _ours(os.fstat(file.fileno())) or not _ours(os.stat(directory)):
                    return cls(path)  # a file someone else could have written: never listed from
                data = json.loads(file.read())
        except (OSError, ValueError):
            return cls(path)
        entries = data.get("tools") if isinstance(data, dict) and data.get("format") == _FORMAT else None
        return cls(path, entries if isinstance(entries, dict) else None)

    def key(self, fn: Callable[..., Any], name: str, structured_output: bool | None) -> str | None:
        """What the schema of tool `name` is built from, hashed; None for a tool that is never cached."""
        if self.path is None:
            return None
        original = inspect.unwrap(fn)
        qualname = getattr(original, "__qualname__", "<locals>")
        module = getattr(original, "__module__", None)
        if "<locals>" in qualname or not isinstance(module, str):
            return None
        try:
            signature = _ADDRESS.sub("", str(inspect.signature(fn)))
        except (TypeError, ValueError):
            return None
        parts = [
            _runtime_fingerprint(),
            _package_fingerprint(module.partition(".")[0]),
            name,
            module,
            qualname,
            repr(structured_output),
            signature,
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get(self, name: str, key: str | None) -> str | None:
        """The schemas of `name` as JSON text (`[input, output]`) when cached under `key`."""
        entry = self._entries.get(name)
        if key is None or not isinstance(entry, dict) or entry.get("key") != key:
            return None
        schemas = entry.get("schemas")
        return schemas if isinstance(schemas, str) else None

    def put(self, name: str, key: str | None, parameters: Schema, output_schema: Schema | None) -> None:
        """Remember the schemas of `name` under `key` (written by `save`)."""
        if key is None or self.path is None:
            return
        try:
            schemas = json.dumps([parameters, output_schema], separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):  # not JSON: listed as the SDK built it, never cached
            return
        entry = {"key": key, "schemas": schemas}
        if self._entries.get(name) != entry:
            self._entries[name] = entry
            self._dirty = True

    def drop(self, name: str) -> None:
        """Forget `name` (its cached schema turned out stale)."""
        if self._entries.pop(name, None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Write the file if anything changed: atomically, owner-only, and never failing the server."""
        if not self._dirty or self.path is None:
            return
        self._dirty = False
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _ours(directory.stat()):
                return  # someone else's directory, or one others can write to: never written there
            text = json.dumps({"format": _FORMAT, "tools": self._entries}, separators=(",", ":"))
            write_atomically(self.path, text)
        except OSError as exc:
            log.debug("tool schema cache not written", path=str(self.path), error=str(exc))


class PendingTool:
    """A tool listed from its cached schema; the SDK's `Tool` (and argument model) is built when needed."""

    def __init__(self, fn: Callable[..., Any], schemas: str, registration: dict[str, Any]) -> None:
        self.fn = fn
        self.registration = registration  # Tool.from_function's keyword arguments
        self.name: str = registration["name"]
        self.title: str | None = registration["title"]
        self.description: str = registration["description"] or fn.__doc__ or ""
        self.annotations: ToolAnnotations | None = registration["annotations"]
        self.icons: list[Icon] | None = registration["icons"]
        self.meta: dict[str, Any] | None = registration["meta"]
        self.schemas = schemas  # the cached JSON text, kept to check against what the SDK builds
        listed, self.output_schema = json.loads(schemas)
        self.parameters: Schema = listed  # what tools/list shows; edits made after registration land here

    def build(self) -> Tool:
        """The SDK's `Tool` for this function, with the schema it builds (not yet the listed one)."""
        return Tool.from_function(self.fn, **self.registration)


class CachedTools(ToolManager):
    """The SDK's tool manager with schemas from a `SchemaCache`; `finish` rewrites every built input schema.

    Tools are kept in registration order, each either built (`Tool`) or waiting for its first use
    (`PendingTool`, which carries everything `tools/list` reads).
    """

    def __init__(
        self, cache: SchemaCache, finish: Callable[[Schema], Schema], *, warn_on_duplicate_tools: bool = True
    ) -> None:
        super().__init__(warn_on_duplicate_tools)
        self.cache = cache
        self._finish = finish
        self._entries: dict[str, Tool | PendingTool] = {}

    def add_tool(  # type: ignore[override]
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> Tool | PendingTool:
        """Register a tool: from its cached schema when current, else built (and its schema cached)."""
        tool_name = name or fn.__name__
        existing = self._entries.get(tool_name)
        if existing is not None:
            if self.warn_on_duplicate_tools:
                log.warning("tool already exists", tool=tool_name)
            return existing
        key = self.cache.key(fn, tool_name, structured_output)
        hit = self.cache.get(tool_name, key)
        registration: dict[str, Any] = {
            "name": tool_name,
            "title": title,
            "description": description,
            "annotations": annotations,
            "icons": icons,
            "meta": meta,
            "structured_output": structured_output,
        }
        entry: Tool | PendingTool
        if hit is not None:
            entry = PendingTool(fn, hit, registration)
        else:
            entry = Tool.from_function(fn, **registration)
            entry.parameters = self._finish(entry.parameters)
            self.cache.put(tool_name, key, entry.parameters, entry.output_schema)
        self._entries[tool_name] = entry
        return entry

    def get_tool(self, name: str) -> Tool | None:
        """The tool's SDK registration, built now if it was listed from the cache."""
        entry = self._entries.get(name)
        if not isinstance(entry, PendingTool):
            return entry
        tool = entry.build()
        built = self._finish(tool.parameters)
        if [built, tool.output_schema] == json.loads(entry.schemas):
            tool.parameters = entry.parameters  # what the client was shown, with any edit made since
        else:  # listed from a stale entry: from now on the truth, and the next start builds it again
            log.warning("tool schema cache was stale; it is rebuilt at the next start", tool=name)
            tool.parameters = built
            self.cache.drop(name)
            self.cache.save()
        self._entries[name] = tool
        return tool

    def entry(self, name: str) -> Tool | PendingTool | None:
        """The tool's registration as it is, without building it (for editing its listed schema)."""
        return self._entries.get(name)

    def list_tools(self) -> list[Tool | PendingTool]:  # type: ignore[override]
        """Every tool in registration order, built or not (both carry what `tools/list` shows)."""
        return list(self._entries.values())

    def remove_tool(self, name: str) -> None:
        """Remove a tool by name."""
        if name not in self._entries:
            raise ToolError(f"Unknown tool: {name}")
        del self._entries[name]
