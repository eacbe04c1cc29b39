"""The console-script launcher: collection paused while a server loads, frozen and resumed once built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVER = """
import gc
from patchbay_common.launch import start_done

def main():
    print("loading", gc.isenabled(), gc.get_freeze_count())
    start_done()
    print("serving", gc.isenabled(), gc.get_freeze_count() > 1000)
    if FAIL:
        raise SystemExit(3)
"""


def _launch(tmp_path: Path, fail: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "fake_server.py").write_text(f"FAIL = {fail}\n{SERVER}")
    code = (
        "import gc, sys; from patchbay_common.launch import launch\n"
        "try:\n    launch('fake_server')\nfinally:\n    print('after', gc.isenabled())"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60
    )


def test_collection_is_paused_while_loading_and_frozen_once_built(tmp_path: Path) -> None:
    done = _launch(tmp_path, fail=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["loading False 0", "serving True True", "after True"]


def test_a_start_that_stops_early_leaves_collection_on(tmp_path: Path) -> None:
    done = _launch(tmp_path, fail=True)
    assert done.returncode == 3
    assert done.stdout.splitlines()[-1] == "after True"


def test_every_server_starts_through_the_launcher() -> None:
    root = Path(__file__).parents[2] / "servers"
    for pyproject in sorted(root.glob("*/pyproject.toml")):
        name = pyproject.parent.name
        assert f'patchbay-{name} = "patchbay_{name}.__main__:main"' in pyproject.read_text()
        main = (pyproject.parent / "src" / f"patchbay_{name}" / "__main__.py").read_text()
        assert f'launch("patchbay_{name}.server")' in main
