"""Warm-up imports: a server's declared heavy modules are imported in the background once a client is there.

The probe module is a fresh file on sys.path, so "imported" means the server imported it, not the test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from patchbay_common import warmup
from patchbay_common.app import PatchbayServer


def probe(tmp_path: Path, name: str, body: str = "LOADED = True\n") -> str:
    (tmp_path / f"{name}.py").write_text(body)
    return name


async def wait_for(module: str, seconds: float = 10.0) -> bool:
    """Whether `module` gets imported within `seconds` (the event loop keeps running meanwhile)."""
    deadline = time.monotonic() + seconds
    while module not in sys.modules and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to wait on
        await anyio.sleep(0.01)
    return module in sys.modules


def server(*modules: str) -> PatchbayServer:
    mcp = PatchbayServer("warm", version="0", warm_imports=modules)

    @mcp.tool()
    async def echo(text: str) -> str:
        """Return the text."""
        return text

    return mcp


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_declared_modules_are_imported_once_a_client_is_there(on_path: Path, mode: str) -> None:
    name = probe(on_path, f"warm_probe_{mode}")
    broken = probe(on_path, f"warm_broken_{mode}", "raise RuntimeError('no')\n")
    mcp = server(broken, name)  # a module that fails does not stop the others
    assert name not in sys.modules  # building the server imports nothing
    try:
        async with Client(mcp, mode=mode) as client:  # legacy: initialized; 2026 era: the first listing
            if mode == "auto":
                await client.list_tools()
            assert await wait_for(name), f"{name} was not imported after the client connected"
            result = await client.call_tool("echo", {"text": "hi"})
            assert not result.is_error
        assert mcp.warmup.thread is not None
        mcp.warmup.thread.join(5)
        assert broken not in sys.modules
    finally:
        sys.modules.pop(name, None)


def test_nothing_declared_starts_no_thread() -> None:
    mcp = server()
    mcp.warmup.start()
    assert mcp.warmup.thread is None


@pytest.mark.anyio
async def test_the_import_waits_until_the_pending_answers_are_out(on_path: Path) -> None:
    """Asked for from a handler, the import starts once `AFTER_ANSWERS` has passed, and only once."""
    name = probe(on_path, "warm_probe_soon")
    mcp = server(name)
    try:
        began = time.monotonic()
        for _ in range(3):
            mcp.warmup.start_soon()
        assert mcp.warmup.thread is None and name not in sys.modules
        assert await wait_for(name)
        assert time.monotonic() - began >= warmup.AFTER_ANSWERS
        assert mcp.warmup.thread is not None
        mcp.warmup.thread.join(5)
    finally:
        sys.modules.pop(name, None)
