"""Cheap start-up checks a server hands to `serve(..., preflight=...)`: each problem is one line with its fix.

`serve` logs each line as a warning (the server still starts: a desktop client shows the log, and the
first tool call explains again), or with `--strict` refuses to start. Every check here is bounded in time
(at most `timeout` seconds) and never prints a secret.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["missing_env", "playwright_browser", "reachable", "url_reachable"]


def missing_env(names: Iterable[str], what: str, fix: str) -> list[str]:
    """One problem when none of the variables `names` holds a value (a token, a key)."""
    names = list(names)
    if any(os.environ.get(name, "").strip() and not _placeholder(os.environ[name]) for name in names):
        return []
    shown = " or ".join(names)
    return [f"no {what}: {shown} is not set{_hint_placeholder(names)}; {fix}"]


def _placeholder(value: str) -> bool:
    value = value.strip()
    return value.startswith("<") and value.endswith(">")


def _hint_placeholder(names: list[str]) -> str:
    if any(_placeholder(os.environ.get(name, "")) for name in names):
        return " (it still holds the <PLACEHOLDER> the config writer put there)"
    return ""


def reachable(host: str, port: int, timeout: float = 1.5) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`, else why not (one phrase)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"{host} does not resolve"
    except TimeoutError:
        return f"{host}:{port} did not answer within {timeout:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def url_reachable(url: str, default_port: int, what: str, fix: str, timeout: float = 1.5) -> list[str]:
    """One problem when the host of `url` (credentials never shown) cannot be reached over TCP."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or default_port
    except ValueError:
        return [f"{what}: the URL cannot be parsed; {fix}"]
    if not host:
        return []  # a Unix socket or libpq defaults: nothing cheap to check
    problem = reachable(host, port, timeout)
    return [f"{what} not reachable ({problem}); {fix}"] if problem else []


def playwright_browser() -> str | None:
    """The folder of a Chromium that `playwright install chromium` put in place, or None."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured and configured != "0":
        roots = [Path(configured)]
    elif sys.platform == "darwin":
        roots = [Path.home() / "Library" / "Caches" / "ms-playwright"]
    elif sys.platform == "win32":
        roots = [Path(os.environ.get("LOCALAPPDATA", Path.home())) / "ms-playwright"]
    else:
        roots = [Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"]
    for root in roots:
        found = sorted(root.glob("chromium*")) if root.is_dir() else []
        if found:
            return str(found[-1])
    return None
