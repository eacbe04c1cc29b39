"""Import a server's heavy modules in the background once a client has connected, not at start or first call.

A server that imports its client library lazily (redis-py, Playwright's Python side) starts as fast as the
SDK allows, but then its first tool call pays the import (redis-py: 80-100 ms). `Warmup` imports the modules
a server declares (`PatchbayServer(warm_imports=[...])`) in a background thread as soon as the client says the
handshake is done (`notifications/initialized`) or first lists the tools (the 2026 era has no handshake),
so the import overlaps the client's own work between the handshake and its first call. Once, per process.
A module that cannot be imported is left for the call that needs it to report.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence

from patchbay_common.logs import get_logger

__all__ = ["Warmup"]

log = get_logger("patchbay.warmup")


class Warmup:
    """Imports `modules` once, in a background thread, the first time `start()` is called."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = tuple(modules)
        self._started = not self.modules
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start importing (a no-op after the first call, or when there is nothing to import)."""
        if self._started:  # the common case, without the lock
            return
        with self._lock:
            if self._started:
                return
            self._started = True
            # Not a daemon: a process that exits mid-import waits for it rather than finalizing while the
            # thread holds an import lock the exiting thread may need.
            self.thread = threading.Thread(target=self._run, name="patchbay-warmup", daemon=False)
            self.thread.start()

    def _run(self) -> None:
        for name in self.modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # the call that needs it says what is wrong, with its own hint
                log.debug("warm-up import failed", module=name, error=f"{type(exc).__name__}: {exc}")
