"""Per-path rules an operator adds on top of the allowed directories: hidden paths and read-only ones.

The roots module decides *whether a path is inside* the allowed directories; this module decides what may
be done there. Rules match the canonical path (links already resolved by the roots module), so a link
named `notes.txt` that points at `.env` is refused like `.env` itself.

- `deny`: gitignore-style globs, relative to the allowed directory holding the path (`.env`, `*.pem`,
  `secrets/`). Matching paths cannot be read, written, listed or searched; they are left out of listings.
- `deny_write`: the same globs, for paths that can be read but never changed (default `.git`, because a
  written `.git/hooks/*` or `.git/config` runs code on the user's next git command).
- `read_only`: directories (absolute paths) whose whole subtree can be read but never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from patchbay_common.errors import AccessDenied

__all__ = ["Policy"]


def _spec(patterns: Sequence[str]):  # type: ignore[no-untyped-def]  # pathspec is untyped
    if not patterns:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(patterns), backend="re2")  # linear-time matching


def _canonical_dir(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


class Policy:
    """Operator rules for reading and changing paths inside the allowed directories."""

    def __init__(
        self,
        directories: Iterable[str],
        *,
        deny: Sequence[str] = (),
        deny_write: Sequence[str] = (),
        read_only: Sequence[str] = (),
    ) -> None:
        """Compile the rules; `directories` are the canonical allowed directories globs are relative to."""
        self._dirs = sorted({d.rstrip("/") or "/" for d in directories}, key=len, reverse=True)
        self.deny = list(deny)
        self.deny_write = list(deny_write)
        self.read_only = [_canonical_dir(p) for p in read_only]
        self._compiled: dict[str, Any] = {}

    def add_directories(self, directories: Iterable[str]) -> None:
        """Make globs relative to these directories too (client roots, when they are the outer bound)."""
        added = {d.rstrip("/") or "/" for d in directories}
        self._dirs = sorted(set(self._dirs) | added, key=len, reverse=True)

    @property
    def _deny(self) -> Any:
        return self._spec("deny", self.deny)

    @property
    def _deny_write(self) -> Any:
        return self._spec("deny_write", self.deny_write)

    def _spec(self, key: str, patterns: Sequence[str]) -> Any:
        """The compiled patterns, built on first use (pathspec is imported only when a rule is checked)."""
        if key not in self._compiled:
            self._compiled[key] = _spec(patterns)
        return self._compiled[key]

    @property
    def empty(self) -> bool:
        """Whether no rule hides anything (listings can skip the per-entry check)."""
        return not self.deny

    def _relative(self, path: str) -> str | None:
        for directory in self._dirs:
            if path == directory:
                return ""
            prefix = directory if directory.endswith("/") else directory + "/"
            if path.startswith(prefix):
                return path[len(prefix) :]
        return None

    def _check(self, spec, path: str, is_dir: bool) -> str | None:  # type: ignore[no-untyped-def]
        if spec is None:
            return None
        rel = self._relative(path)
        if not rel:  # an allowed directory itself, or outside (the roots module refuses that)
            return None
        result = spec.check_file(rel + "/" if is_dir else rel)
        if not result.include:
            return None
        index = result.index
        patterns = self.deny if spec is self._deny else self.deny_write
        return patterns[index] if isinstance(index, int) and 0 <= index < len(patterns) else "?"

    def hidden(self, path: str, is_dir: bool = False) -> bool:
        """Whether a deny rule hides `path` (a canonical absolute path)."""
        return bool(self.deny) and self._check(self._deny, path, is_dir) is not None

    def check_read(self, path: str, is_dir: bool = False) -> None:
        """Refuse to read or list `path` when a deny rule matches it.

        Raises:
            AccessDenied: a deny rule matches.
        """
        rule = self._check(self._deny, path, is_dir)
        if rule is not None:
            raise AccessDenied(
                f"Access denied: {path} matches the operator's deny rule {rule!r}; it cannot be read, "
                "listed or changed.",
                hint="Work with other files; the rule is part of the server's configuration.",
            )

    def check_write(self, path: str, is_dir: bool = False) -> None:
        """Refuse to create, change, move or delete `path` when any rule protects it.

        Raises:
            AccessDenied: a deny, deny-write or read-only rule matches.
        """
        self.check_read(path, is_dir)
        rule = self._check(self._deny_write, path, is_dir)
        if rule is not None:
            raise AccessDenied(
                f"Access denied: {path} matches the operator's write-protection rule {rule!r}; it can be "
                "read but not changed.",
                hint="Write somewhere else; the rule is part of the server's configuration.",
            )
        for directory in self.read_only:
            if path == directory or path.startswith(directory.rstrip("/") + "/"):
                raise AccessDenied(
                    f"Access denied: {path} is inside the read-only directory {directory}; it can be read "
                    "but not changed.",
                    hint="Write somewhere else; the rule is part of the server's configuration.",
                )

    def check_tree_write(self, path: str, relative_paths: Iterable[tuple[str, bool]]) -> None:
        """Refuse a change to a whole directory (move, delete) when any path inside it is protected."""
        self.check_write(path, True)
        for rel, is_dir in relative_paths:
            self.check_write(f"{path.rstrip('/')}/{rel}", is_dir)
        for directory in self.read_only:
            if directory.startswith(path.rstrip("/") + "/"):
                raise AccessDenied(
                    f"Access denied: {path} holds the read-only directory {directory}; it cannot be moved "
                    "or deleted as a whole.",
                )

    def describe(self) -> list[str]:
        """The rules as lines for `list_allowed_directories`."""
        lines = []
        if self.deny:
            lines.append(f"Hidden (deny): {', '.join(self.deny)}")
        if self.deny_write:
            lines.append(f"Read-only patterns: {', '.join(self.deny_write)}")
        if self.read_only:
            lines.append(f"Read-only directories: {', '.join(self.read_only)}")
        return lines
