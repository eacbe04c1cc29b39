"""Import a server's heavy modules in the background once a client has connected, not at start or first call.

A server that imports its client library lazily (redis-py, Playwright's Python side) starts as fast as the
SDK allows, but then its first tool call pays the import (redis-py: 80-100 ms). `Warmup` imports the modules
a server declares (`PatchbayServer(warm_imports=[...])`) in a background thread as soon as the client says the
handshake is done (`notifications/initialized`) or first lists the tools (the 2026 era has no handshake),
50 ms later so that the answers the client is waiting for then go out first, and the import overlaps the
client's own work between the handshake and its first call. Once, per process.
A module that cannot be imported is left for the call that needs it to report.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Sequence

from patchbay_common.logs import get_logger

__all__ = ["Warmup"]

log = get_logger("patchbay.warmup")

AFTER_ANSWERS = 0.05
"""Seconds between the handshake (or first listing) and the warm-up: the answers pending then go out first."""


class Warmup:
    """Imports `modules` once, in a background thread, the first time `start()` is called."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = tuple(modules)
        self._started = not self.modules
        self._scheduled = False
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

    def start_soon(self, delay: float = AFTER_ANSWERS) -> None:
        """`start()` once `delay` seconds have passed on the running event loop (at once without a loop).

        The import holds the interpreter lock for tens of milliseconds at a time; started at once it would
        slow the answers the client is waiting for right then (initialize, then the tool listing).
        """
        if self._started or self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.start()
            return
        self._scheduled = True
        loop.call_later(delay, self.start)

    def _run(self) -> None:
        for name in self.modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # the call that needs it says what is wrong, with its own hint
                log.debug("warm-up import failed", module=name, error=f"{type(exc).__name__}: {exc}")
