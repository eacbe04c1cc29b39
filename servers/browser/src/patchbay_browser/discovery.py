"""Find a Chromium-family browser already installed on Linux, macOS or Windows (plain paths, no MCP).

Tried in order: the names on the PATH (`chromium`, `google-chrome`, ...), then the places installers use:
Linux `/usr/bin/chromium` and `/usr/lib/chromium/chromium`; macOS the `.app` bundles of Google Chrome,
Chromium and Microsoft Edge in `/Applications` and `~/Applications`; Windows `chrome.exe` / `msedge.exe`
under Program Files (both), `ProgramW6432` and `LOCALAPPDATA` (per-user installs). Everything is a
parameter (platform, home, environment, filesystem root), so tests build a real directory tree and point
the search at it. When nothing is found, Playwright's own Chromium is the fallback
(`playwright install chromium`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath

__all__ = ["INSTALL_HINT", "Search", "find_installed"]

INSTALL_HINT = (
    "run `playwright install chromium` (uvx --from patchbay-browser playwright install chromium), "
    "install Chrome, Chromium or Edge, or pass --executable-path"
)

PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
LINUX = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium")
MAC_APPS = (
    "Google Chrome.app/Contents/MacOS/Google Chrome",
    "Chromium.app/Contents/MacOS/Chromium",
    "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
WINDOWS_DIRS = ("ProgramFiles", "ProgramFiles(x86)", "ProgramW6432", "LOCALAPPDATA")
WINDOWS_EXES = (
    "Google/Chrome/Application/chrome.exe",
    "Chromium/Application/chrome.exe",
    "Microsoft/Edge/Application/msedge.exe",
)


@dataclass(frozen=True)
class Search:
    """Where to look: the platform (`sys.platform` values), home folder, environment, filesystem root.

    `root` re-roots absolute POSIX paths (`/Applications/...` is looked up as `root/Applications/...`);
    Windows folders come from the environment as given.
    """

    platform: str = sys.platform
    home: Path = field(default_factory=Path.home)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    root: Path = Path("/")

    def _under_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def candidates(self) -> list[Path]:
        """The install locations to try on this platform, most common first."""
        if self.platform == "darwin":
            return [
                folder / app
                for folder in (self._under_root("/Applications"), self.home / "Applications")
                for app in MAC_APPS
            ]
        if self.platform == "win32":
            bases = []
            for name in WINDOWS_DIRS:  # environment names are case-insensitive on Windows
                value = next((v for k, v in self.environ.items() if k.upper() == name.upper() and v), None)
                if value and value not in bases:
                    bases.append(value)
            return [Path(base, *PureWindowsPath(exe).parts) for base in bases for exe in WINDOWS_EXES]
        return [self._under_root(path) for path in LINUX]


def _runnable(path: PurePath) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_installed(search: Search | None = None) -> str | None:
    """The first runnable Chromium, Chrome or Edge on the PATH or in the usual install places, or None."""
    search = search or Search()
    path = search.environ.get("PATH", "")  # none: search no folder (shutil.which would use os.environ)
    for name in PATH_NAMES:
        found = shutil.which(name, path=path)
        if found:
            return found
    for candidate in search.candidates():
        if _runnable(candidate):
            return str(candidate)
    return None
