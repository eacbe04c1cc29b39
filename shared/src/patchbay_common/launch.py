"""Every server's console script: the cyclic garbage collector paused while the server loads.

A start creates a few hundred thousand objects (the SDK's ~600 pydantic models among them) and almost no
garbage: sqlite's start leaves about 2,000 collectable objects. The collector's passes over that growing
heap are then pure cost, 40-60 ms of a 550 ms start. `launch("patchbay_<name>.server")` pauses collection
before anything is imported and runs that module's `main`; `serve` freezes what the start created once the
server is built (`gc.freeze`: never scanned again, so no later full collection walks those objects, and a
forked worker or search process does not write to their pages) and resumes collection before the first
request. This is the pattern the `gc` documentation gives for servers that fork.
"""

from __future__ import annotations

import gc
import importlib

__all__ = ["launch", "start_done"]


def launch(module: str) -> None:
    """Import `module` and run its `main()` with collection paused until `start_done` (or its return)."""
    gc.disable()
    try:
        importlib.import_module(module).main()
    finally:
        gc.enable()


def start_done() -> None:
    """The server is built: keep what the start created out of every later collection, and collect again."""
    gc.freeze()
    gc.enable()
