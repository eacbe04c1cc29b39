"""`make demo` keeps working: the README's first command, run as CI cannot run it (CI runs `make test`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_every_zero_configuration_server() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "== patchbay-filesystem" in out and "3. task 3" in out
    assert "Unknown tool: write_file (isError)" in out  # write tools are not even listed by default
    assert "Access denied: /etc/passwd is outside the allowed directories" in out
    assert "customers" in out and "may not be modified" in out
    assert "# Hello from patchbay" in out  # the page, as Markdown
    assert "Refused to connect: 127.0.0.1 is a loopback address" in out
