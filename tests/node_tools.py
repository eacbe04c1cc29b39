"""Where the official npm tools the cross-cutting checks use live: Node 22 and four packages in .cache.

`scripts/setup.sh` installs them (its last section); a missing one fails the test with that command.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
NODE22 = CACHE / "node22" / "node_modules" / ".bin" / "node"
NPM_MODULES = CACHE / "npm" / "node_modules"
CONFORMANCE = NPM_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
INSPECTOR_CLI = NPM_MODULES / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"
SDK = NPM_MODULES / "@modelcontextprotocol" / "sdk"
OIDC_PROVIDER = NPM_MODULES / "oidc-provider"
TS_CLIENT = Path(__file__).resolve().parent / "ts_client.mjs"
VENV_BIN = ROOT / ".venv" / "bin"


def require(path: Path) -> Path:
    """`path`, or an AssertionError naming the command that installs it."""
    assert path.exists(), f"{path} is missing: run `make setup` (scripts/setup.sh installs the npm tools)"
    return path


def node() -> str:
    """The Node 22 executable (the conformance suite needs >= 22)."""
    return str(require(NODE22).resolve())


def node_env() -> dict[str, str]:
    """Our environment with Node 22 and the workspace's console scripts first on PATH."""
    bin_dir = str(Path(node()).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{VENV_BIN}:{os.environ.get('PATH', '')}"}


def which(command: str) -> str:
    """The absolute path of a server's console script (the Node tools spawn it without our PATH tricks)."""
    found = shutil.which(command, path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    assert found, f"{command} not found: run `make setup`"
    return found
