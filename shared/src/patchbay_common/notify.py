"""What a call tells the client while it runs: progress, log messages, and a way to stop its work.

`PatchbayServer` sets the current call's context around every tool call, so tool and domain code need no
`ctx` parameter to use these:

- `Progress`: `async with Progress(total=n, unit="files") as progress:` then `progress.advance()` (from any
  thread). At most a few notifications a second reach the client, monotonic, with a readable message, in
  both protocol eras (only when the request carried a progress token). When the call ends — finished,
  failed, timed out or cancelled by the client — `progress.stopped` is set, so a walk in a worker thread
  that checks it stops instead of running on abandoned.
- `log_to_client(level, message, **fields)`: a `notifications/message` about this call (a retry and its
  wait, a partial result, a cut answer, a refusal), redacted like every log line and carrying the request
  id. Handshake-era clients choose the lowest level with `logging/setLevel` (default: info); 2026-era
  clients ask per request, and the SDK drops what they did not ask for.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp_types import EmptyResult, SetLevelRequestParams

from patchbay_common import sdk
from patchbay_common.errors import redact
from patchbay_common.logs import call_field, get_logger

__all__ = ["LEVELS", "ClientLog", "Progress", "current_call", "log_to_client"]

log = get_logger("patchbay.notify")

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_DEFAULT_LEVEL = "info"
_INTERVAL = 0.25  # seconds between two progress notifications at most


class _CurrentCall:
    """The `Context` of the tool call running in this task (None outside one).

    Held in a box that is emptied when the call ends: tasks started during a call (a browser driver, a
    pool's reader) copy the call's context variables and may live on, and must not keep the call's
    connection alive through them.
    """

    def __init__(self) -> None:
        self._box: ContextVar[list[Any] | None] = ContextVar("patchbay_current_call", default=None)

    def get(self) -> Any:
        box = self._box.get()
        return box[0] if box else None

    def set(self, ctx: Any) -> tuple[list[Any], Token[list[Any] | None]]:
        box = [ctx]
        return box, self._box.set(box)

    def reset(self, token: tuple[list[Any], Token[list[Any] | None]]) -> None:
        box, previous = token
        box.clear()
        self._box.reset(previous)


current_call = _CurrentCall()


class ClientLog:
    """Serves `logging/setLevel` (so the logging capability is declared) and remembers each client's level."""

    def __init__(self, server: MCPServer[Any]) -> None:
        self._levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        sdk.add_request_handler(server, "logging/setLevel", SetLevelRequestParams, self._set_level)

    async def _set_level(self, ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        with contextlib.suppress(TypeError):  # a connection object without weak references keeps the default
            self._levels[sdk.connection_of(ctx)] = params.level
        return EmptyResult()

    def wants(self, ctx: Any, level: str) -> bool:
        """Whether the client of `ctx` asked for `level` (handshake era; in 2026 the SDK decides)."""
        try:
            chosen = self._levels.get(sdk.connection_of(ctx), _DEFAULT_LEVEL)
        except TypeError:
            chosen = _DEFAULT_LEVEL
        return LEVELS.index(level) >= LEVELS.index(chosen)


_client_log: ClientLog | None = None


def install(server: MCPServer[Any]) -> ClientLog:
    """Declare logging on `server` (done by PatchbayServer)."""
    global _client_log
    _client_log = ClientLog(server)
    return _client_log


async def log_to_client(level: str, message: str, **fields: Any) -> None:
    """Tell the client about the current call (no-op outside a call, or when the client did not ask)."""
    ctx = current_call.get()
    if ctx is None or level not in LEVELS:
        return
    try:
        request = ctx.request_context
    except Exception:  # a context built outside a request (in-process calls in tests)
        return
    if _client_log is not None and not _client_log.wants(request, level):
        return
    request_id = call_field("request_id")
    data: dict[str, Any] = {"message": redact(message), "request_id": request_id}
    data.update({k: redact(v) if isinstance(v, str) else v for k, v in fields.items()})
    try:
        await request.session.send_log_message(
            level=level, data=data, logger="patchbay", related_request_id=ctx.request_id
        )
    except Exception as exc:  # the client went away, or this era has no channel for it
        log.debug("log message not sent to the client", error=str(exc))


def _number(value: float) -> str:
    """A count as a person reads it: 4194304, not 4.1943e+06; 2.5 stays 2.5."""
    return f"{int(value)}" if float(value).is_integer() else f"{value:.1f}"


class Progress:
    """Progress of the current call, sent to the client a few times a second at most."""

    def __init__(self, total: float | None = None, *, unit: str = "items", message: str = "") -> None:
        self.total = total
        self.unit = unit
        self.message = message
        self.done: float = 0
        self.stopped = threading.Event()
        self.first_sent_at: float | None = None
        self._sent: tuple[float, float | None, str] | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._ctx: Any = None

    def advance(self, amount: float = 1, message: str | None = None) -> None:
        """Count `amount` more done (safe from worker threads)."""
        self.done += amount
        if message is not None:
            self.message = message

    def update(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Set how much is done (never backwards), and optionally the total and message."""
        self.done = max(self.done, done)
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message

    def check(self) -> None:
        """Raise `anyio.get_cancelled_exc_class()`-free `InterruptedError` once the call has ended."""
        if self.stopped.is_set():
            raise InterruptedError("the call was stopped")

    def _text(self) -> str:
        counted = f"{_number(self.done)} {self.unit}"
        if self.total:
            counted = f"{_number(self.done)} of {_number(self.total)} {self.unit}"
        return f"{self.message}: {counted}" if self.message else counted

    async def _send(self) -> None:
        state = (self.done, self.total, self.message)
        if self._ctx is None:
            return
        if self._sent is not None and state[0] <= self._sent[0]:
            return  # progress must increase with every notification; a new message waits for the next step
        self._sent = state
        try:
            await self._ctx.report_progress(self.done, self.total, self._text())
            if self.first_sent_at is None:
                self.first_sent_at = time.monotonic()
        except Exception as exc:
            log.debug("progress not sent", error=str(exc))

    async def _tick(self) -> None:
        while True:  # the first notification comes after one interval: a quick call sends at most one
            await anyio.sleep(_INTERVAL)
            # Shielded: a send cut by the call's end would count as sent, and the final one (same value)
            # would then be skipped, so the client would never see the last progress.
            with anyio.CancelScope(shield=True):
                await self._send()

    async def __aenter__(self) -> Progress:
        ctx = current_call.get()
        self._ctx = ctx if ctx is not None and sdk.progress_wanted(ctx) else None  # no token: nothing to send
        if self._ctx is not None:
            self._group = anyio.create_task_group()
            await self._group.__aenter__()
            self._group.start_soon(self._tick)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        self.stopped.set()
        if self._group is not None:
            self._group.cancel_scope.cancel()
            # The ticker is ours: close its group as if the body succeeded, so the body's own error (or
            # cancellation) propagates unchanged instead of wrapped in an ExceptionGroup.
            await self._group.__aexit__(None, None, None)
            if kind is None and (self._sent is not None or self.done > 0):
                with anyio.CancelScope(shield=True):
                    await self._send()
        return None
