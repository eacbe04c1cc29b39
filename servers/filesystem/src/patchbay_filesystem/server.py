"""patchbay-filesystem: read, search, edit and watch local files inside the directories the operator allows.

The directories given on the command line are the outer bound; a client's roots narrow them per call and never
widen them. Started with no directory, the server serves the client's roots instead (their union, re-read when
the client says they changed) and refuses every call until the client lists one. Every path a model sends goes
through `patchbay_common.roots` (links resolved by the server itself, no `..`/prefix-sibling/NUL/FIFO escapes,
descriptor-relative operations) and then through the operator's per-path rules in `policy.py` (hidden globs,
write-protected globs, read-only subtrees).

The tools live in toolset modules (reading.py, listing.py, searching.py, writing.py), each taking the `Deps`
built here (deps.py); this file reads the settings, builds the dependencies and registers the toolsets, the
`file:///{+path}` resource template and its subscriptions (resources.py). The server is read-only unless
started with `--allow-write`: the write tools are not registered otherwise, and `delete` needs `--allow-
delete` too and asks the user first when the client can. Both protocol eras, over stdio, SSE and streamable
HTTP.
"""

from __future__ import annotations

import json
import os

from pydantic import Field
from pydantic_settings import CliPositionalArg

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.toolsets import READ
from patchbay_filesystem import __version__, listing, reading, searching, writing
from patchbay_filesystem.deps import Deps
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.resources import register_resources

log = get_logger("patchbay.filesystem")

_LIST_SETTINGS = ("DIRECTORIES", "DENY", "DENY_WRITE", "READ_ONLY_PATH")
# Built-in rules the operator's own flags add to (they never replace them). Every list-valued rule flag has
# an entry; a non-empty one has a `--no-default-<flag>` switch (Settings.default_<flag>) that drops it.
BUILT_IN_RULES: dict[str, tuple[str, ...]] = {
    "deny": (),
    "deny_write": (".git",),  # a written .git/hooks/* or .git/config runs code on the next git command
    "read_only_path": (),
}


class Settings(CommonSettings):
    """Flags of patchbay-filesystem (each also PATCHBAY_FILESYSTEM_<FLAG>)."""

    model_config = settings_config("filesystem")

    directories: CliPositionalArg[list[str]] = Field(
        default_factory=list,
        description="Directories the server may use (env: a list separated by ':'); none: the client's "
        "roots.",
    )
    allow_write: bool = Field(
        False, description="List and allow the tools that change files (write, edit, create, move, copy)."
    )
    allow_delete: bool = Field(False, description="Also list the delete tool (needs --allow-write).")
    deny: list[str] = Field(
        default_factory=list,
        description="Gitignore-style glob of paths that cannot be read, listed or changed "
        "(repeatable; e.g. .env, *.pem).",
    )
    deny_write: list[str] = Field(
        default_factory=list,
        description="Gitignore-style glob of paths that can be read but not changed (repeatable; added "
        "to the built-in .git, whose hooks and config run code on the next git command).",
    )
    default_deny_write: bool = Field(
        True,
        description="Keep the built-in write protection (.git) besides any --deny-write; "
        "--no-default-deny-write drops it.",
    )
    read_only_path: list[str] = Field(
        default_factory=list, description="A directory whose whole subtree cannot be changed (repeatable)."
    )
    max_media_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest file read_media_file and resource reads return."
    )
    max_search_file_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Files larger than this are skipped by search_content."
    )


def usable_directories(given: list[str]) -> list[str]:
    """The given directories that exist; log each one that does not, and fail when none is left.

    No directory at all is not a mistake: the server then serves the client's roots. Directories given but
    none usable is one: the operator meant a bound, and silently serving whatever a client lists is not it.
    """
    if not given:
        return []
    usable, problems = [], []
    for directory in given:
        path = os.path.abspath(os.path.expanduser(directory))
        if os.path.isdir(path):
            usable.append(path)
            continue
        reason = "is not a directory" if os.path.exists(path) else "does not exist"
        problems.append(f"{path} {reason}")
        log.warning("allowed directory skipped", directory=path, reason=reason)
    if not usable:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise ValueError(
            f"no usable directory to serve{detail}: pass at least one existing directory, "
            "e.g. patchbay-filesystem ~/projects"
        )
    return usable


def rules(settings: Settings, name: str) -> list[str]:
    """The built-in rules of flag `name` (unless switched off), then the operator's, without repeats."""
    keep = getattr(settings, f"default_{name}", True)
    combined = [*(BUILT_IN_RULES[name] if keep else ()), *getattr(settings, name)]
    return list(dict.fromkeys(combined))


def granted(settings: Settings) -> set[str]:
    """The access the operator grants: read always, write with --allow-write, delete with --allow-delete."""
    access = {READ}
    if settings.allow_write:
        access.add(writing.WRITE)
        if settings.allow_delete:
            access.add(writing.DELETE)
    return access


def build(settings: Settings) -> PatchbayServer:
    """The filesystem server for `settings`: toolsets, the file resource template, and subscriptions."""
    roots = Roots(usable_directories(settings.directories))
    if settings.allow_delete and not settings.allow_write:
        raise ValueError("--allow-delete needs --allow-write as well")
    client_only = not roots.directories
    if client_only:
        log.warning(
            "no directory given: serving the client's roots; every call is refused until the client lists "
            "one (add a root in the client, or start the server with a directory: patchbay-filesystem DIR)"
        )
    mcp = PatchbayServer(
        "patchbay-filesystem",
        version=__version__,
        settings=settings,
        roots=roots,
        instructions="Files inside the allowed directories (see list_allowed_directories).",
    )
    mcp.client_roots_cache.client_only = client_only
    deps = Deps(
        roots=roots,
        policy=Policy(
            roots.directories,
            deny=rules(settings, "deny"),
            deny_write=rules(settings, "deny_write"),
            read_only=rules(settings, "read_only_path"),
        ),
        max_chars=settings.max_output_chars,
        walk_seconds=max(1.0, settings.tool_timeout - 2),
        max_media_bytes=settings.max_media_bytes,
        max_search_file_bytes=settings.max_search_file_bytes,
        allow_write=settings.allow_write,
    )
    mcp.client_roots_cache.on_client_roots = deps.policy.add_directories
    access = granted(settings)
    mcp.add_toolset(reading.tools, deps, access=access)
    mcp.add_toolset(listing.tools, deps, access=access)
    mcp.add_toolset(searching.tools, deps, access=access)
    # --allow-delete is the operator's consent to deleting: a client that cannot ask the user (no
    # elicitation) may still delete, as before; a client that can ask always asks.
    mcp.add_toolset(writing.tools, deps, access=access, allow_unconfirmed=settings.allow_delete)
    mcp.file_watcher = register_resources(mcp, deps).watcher  # type: ignore[attr-defined]  # for tests
    return mcp


def _env_lists() -> None:
    """Accept `a:b:c` (os.pathsep-separated) as well as JSON for the list-valued environment variables."""
    for name in _LIST_SETTINGS:
        key = f"PATCHBAY_FILESYSTEM_{name}"
        value = os.environ.get(key)
        if value is not None and not value.lstrip().startswith("["):
            os.environ[key] = json.dumps([part for part in value.split(os.pathsep) if part])


def main() -> None:
    """Console entry point: `patchbay-filesystem [flags] DIRECTORY...`."""
    _env_lists()
    serve(build, Settings)


__all__ = ["BUILT_IN_RULES", "Settings", "build", "granted", "main", "rules", "usable_directories"]
