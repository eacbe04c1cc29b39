"""Structured logs to stderr, one request id per tool call, secrets redacted.

stdout belongs to the protocol on stdio, so every log line (ours, the SDK's, uvicorn's) goes to stderr:
JSON lines when stderr is not a terminal, readable columns when it is.

structlog renders the lines, but is imported only when a line first needs it (~10 ms of a start): a plain
JSON line (an event and its fields, no traceback) is written here in one `to_json`, with the same keys,
redaction and call fields structlog would add. Console lines, tracebacks and the stdlib records of other
libraries go through structlog.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Any, Literal

from pydantic_core import to_json

from patchbay_common import errors
from patchbay_common.errors import redact

__all__ = [
    "LogFormat",
    "bind_call",
    "call_field",
    "configure_logging",
    "get_logger",
    "log_call",
    "reset_call",
    "summarize_arguments",
]

LogFormat = Literal["json", "console", "auto"]

_MAX_ARG_CHARS = 200


def _import_structlog() -> Any:
    """Import structlog without the optional pretty-printers it imports when they are installed.

    `import structlog` imports `structlog.dev` and `structlog.tracebacks`, which import rich (with
    pygments), better_exceptions and colorama if they are present: most of structlog's import time, for
    colours and pretty tracebacks no patchbay format uses (JSON lines, or console lines without colours
    and with plain tracebacks). They are hidden while structlog imports, so it falls back to plain
    output; anything importing them later gets them as usual.
    """
    hidden = [name for name in ("rich", "better_exceptions", "colorama") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        import structlog
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return structlog


_structlog: Any = None  # the module, once a line has needed it
_structlog_lock = threading.Lock()
_format: Literal["json", "console"] | None = None  # None until `configure_logging` runs
_processors: list[Any] | None = None  # the processors we configured structlog with

_call: ContextVar[Mapping[str, str] | None] = ContextVar("patchbay_call", default=None)


def bind_call(request_id: str, tool: str) -> Token[Mapping[str, str] | None]:
    """Add `request_id` and `tool` to every line logged in this context (a tool call) until `reset_call`."""
    return _call.set({"request_id": request_id, "tool": tool})


def reset_call(token: Token[Mapping[str, str] | None]) -> None:
    """End what `bind_call` started."""
    _call.reset(token)


def call_field(name: str) -> str | None:
    """`request_id` or `tool` of the tool call running in this context, or None outside one."""
    fields = _call.get()
    return None if fields is None else fields.get(name)


def _add_call_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: the current call's request id and tool name."""
    fields = _call.get()
    if fields:
        for key, value in fields.items():
            event.setdefault(key, value)
    return event


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: redact every string value of the event."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def _structlog_module() -> Any:
    """structlog, imported and configured for the current format the first time something needs it."""
    global _structlog
    if _structlog is None:
        with _structlog_lock:
            if _structlog is None:
                module = _import_structlog()
                _configure_structlog(module)
                _structlog = module
    return _structlog


def _shared_processors(structlog: Any) -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_call_fields,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # plain text, so the redaction below covers tracebacks too
        _redact_event,
    ]


def _configure_structlog(structlog: Any) -> None:
    """Send structlog to stdlib logging: rendered by the root handler once configured, plainly before."""
    if _format is None:  # `configure_logging` has not run: lines go to stdlib's stderr fallback, never stdout
        processors = [
            structlog.contextvars.merge_contextvars,
            _add_call_fields,
            structlog.processors.format_exc_info,
            _redact_event,
            structlog.stdlib.render_to_log_kwargs,
        ]
    else:  # filter_by_level first: lines below the level cost no redaction or rendering
        processors = [
            structlog.stdlib.filter_by_level,
            *_shared_processors(structlog),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ]
    global _processors
    _processors = processors[:]  # capture_logs empties and refills the configured list itself
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=_format is not None,
    )


class _Formatter(logging.Formatter):
    """The root handler's formatter: structlog's `ProcessorFormatter`, built at the first record."""

    def __init__(self, fmt: Literal["json", "console"]) -> None:
        super().__init__()
        self._format = fmt
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON or console line, like every structlog line."""
        if self._inner is None:
            structlog = _structlog_module()
            renderer: Any = (
                structlog.processors.JSONRenderer()
                if self._format == "json"
                else structlog.dev.ConsoleRenderer(colors=False)
            )
            self._inner = structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=_shared_processors(structlog),
            )
        return self._inner.format(record)


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Send all logging (structlog and stdlib) to stderr at `level`, as JSON or console lines."""
    global _format, _handler, _json_stream, _json_flush
    _format = ("console" if sys.stderr.isatty() else "json") if fmt == "auto" else fmt
    if _structlog is not None:
        _configure_structlog(_structlog)
    elif "structlog" in sys.modules:
        _structlog_module()  # another library uses it: configured now, so it never writes to stdout
    _json_stream = sys.stderr if _format == "json" else None
    _json_flush = not _writes_each_line(sys.stderr)
    handler = _handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx2", "httpcore2"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    # The transport libraries are chatty at INFO; their warnings still come through.
    # The SDK logs every refused call and session end at INFO: patchbay's own line per call says it once.
    for name in (
        "uvicorn.access",
        "httpx2",
        "httpcore2",
        "mcp.server.streamable_http_manager",
        "mcp.server.mcpserver.server",
        "mcp.server.streamable_http",
    ):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


_handler: logging.Handler | None = None  # the root handler `configure_logging` installed
_json_stream: Any = None  # stderr when lines are JSON: the per-call line is written there directly
_json_flush = False  # whether that stream needs a flush after a line (not when it is line-buffered)
_call_logger = logging.getLogger("patchbay")


def log_call(event: str, arguments: Mapping[str, Any] | None, **fields: Any) -> None:
    """Write the one line a tool call logs, at INFO, as cheaply as the format allows.

    Below INFO nothing is formatted, not even the argument summary. When logs are JSON the line is rendered
    here in one `to_json` instead of through the processor chain (same keys as every other line);
    `fields` must already be redacted, `arguments` are summarised (and redacted) here.
    """
    if not _call_logger.isEnabledFor(logging.INFO):
        return
    fields["arguments"] = summarize_arguments(arguments)
    if _json_stream is None:
        get_logger("patchbay").info(event, **fields)
        return
    _write_line(event, "info", "patchbay", fields)


def _write_line(event: str, level: str, logger: str, fields: dict[str, Any]) -> None:
    """One JSON line to stderr, keyed as structlog's JSON lines are; `fields` and `event` already redacted."""
    call = _call.get()
    if call:
        for key, value in call.items():
            fields.setdefault(key, value)
    fields["event"] = event
    fields["level"] = level
    fields["logger"] = logger
    fields["timestamp"] = _utc_timestamp()
    try:
        _json_stream.write(to_json(fields, fallback=str).decode() + "\n")
        if _json_flush:
            _json_stream.flush()
    except (OSError, ValueError):  # stderr closed (the client went away): nothing to log to
        pass


def _writes_each_line(stream: Any) -> bool:
    """Whether a line written to `stream` reaches the file without a `flush()` call.

    So for stderr as Python opens it: line-buffered (since 3.9), or with PYTHONUNBUFFERED / -u written
    through to the unbuffered file. Anything else (a replaced stream, a capture) is flushed per line.
    """
    if getattr(stream, "line_buffering", False):
        return True
    return bool(getattr(stream, "write_through", False)) and isinstance(
        getattr(stream, "buffer", None), io.FileIO
    )


_stamp_second = -1
_stamp_prefix = ""


def _utc_timestamp() -> str:
    """Now in ISO 8601 UTC with microseconds, as structlog writes it; the part up to the second is cached."""
    global _stamp_second, _stamp_prefix
    now = time.time()
    second = int(now)
    if second != _stamp_second:
        _stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp_second = second
    return f"{_stamp_prefix}.{int((now - second) * 1e6):06d}Z"


class _Logger:
    """A logger that writes a plain JSON line itself and hands every other line to structlog.

    A line below the logger's level costs one level check; a line with `exc_info`, a console line, and any
    other method (`bind`, `exception`, ...) imports structlog and goes through its processors.
    """

    __slots__ = ("_bound", "_name", "_stdlib")

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)
        self._bound: Any = None

    def _structlog_logger(self) -> Any:
        if self._bound is None:
            self._bound = _structlog_module().stdlib.get_logger(self._name)
        return self._bound

    def _log(self, level: int, method: str, event: Any, args: tuple[Any, ...], fields: dict[str, Any]) -> Any:
        if not self._stdlib.isEnabledFor(level):
            return None
        if _writes_itself(self._stdlib) and isinstance(event, str) and not args and _PLAIN.isdisjoint(fields):
            for key, value in fields.items():
                if isinstance(value, str):
                    fields[key] = redact(value)
            _write_line(redact(event), _LEVEL_NAMES[level], self._name, fields)
            return None
        return getattr(self._structlog_logger(), method)(event, *args, **fields)

    def debug(self, event: Any = None, *args: Any, **fields: Any) -> Any:
        """Log at DEBUG."""
        return self._log(logging.DEBUG, "debug", event, args, fields)

    def info(self, event: Any = None, *args: Any, **fields: Any) -> Any:
        """Log at INFO."""
        return self._log(logging.INFO, "info", event, args, fields)

    def warning(self, event: Any = None, *args: Any, **fields: Any) -> Any:
        """Log at WARNING."""
        return self._log(logging.WARNING, "warning", event, args, fields)

    def error(self, event: Any = None, *args: Any, **fields: Any) -> Any:
        """Log at ERROR."""
        return self._log(logging.ERROR, "error", event, args, fields)

    def critical(self, event: Any = None, *args: Any, **fields: Any) -> Any:
        """Log at CRITICAL."""
        return self._log(logging.CRITICAL, "critical", event, args, fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._structlog_logger(), name)


def _writes_itself(logger: logging.Logger) -> bool:
    """Whether a line of `logger` can be written here rather than by structlog.

    So: JSON lines, only our handler would see the record, and structlog (if loaded) still has our
    configuration (`structlog.testing.capture_logs` replaces it).
    """
    handlers = logging.root.handlers
    return (
        _json_stream is not None
        and len(handlers) == 1
        and handlers[0] is _handler
        and not logger.handlers
        and logger.propagate
        and (_structlog is None or _structlog.get_config()["processors"] == _processors)
    )


_PLAIN = frozenset({"exc_info", "stack_info", "stacklevel"})  # fields only structlog can render
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


def get_logger(name: str) -> Any:
    """A logger for `name`; the request id of the current tool call is added to every line."""
    return _Logger(name)


def summarize_arguments(arguments: Mapping[str, Any] | None) -> dict[str, str]:
    """Tool arguments as short, redacted strings, fit for a log line."""
    summary: dict[str, str] = {}
    for key, value in (arguments or {}).items():
        raw = repr(value)
        # Redact only what can be shown (plus room for a secret straddling the cut): a 2 MB argument must
        # not hold the event loop for the regexes.
        text = _redact_argument(raw[: _MAX_ARG_CHARS * 4])
        if len(raw) > _MAX_ARG_CHARS:
            text = f"{text[:_MAX_ARG_CHARS]}...(+{len(raw) - _MAX_ARG_CHARS} chars)"
        summary[key] = text
    return summary


def _redact_argument(text: str) -> str:
    """`errors.redact(text)`, without running the credential-shape regexes where none of them can match.

    Every shape in `errors._SHAPES` needs one of ``: = _ -``, the literal ``eyJ`` or one of the words
    bearer/token/basic (any case) to match, and those checks are a fraction of the regexes' cost on the
    short strings most arguments are. For non-ASCII text the words could also match through Unicode case
    folding (``ſ`` for s, ``K`` for k), so it gets the full `redact`. Registered secrets are always replaced.
    shared/tests/test_logs.py pins `_SHAPES`: a new shape must be covered here before that test passes.
    """
    if not _could_hold_shape(text):
        pattern = errors._secrets_pattern  # the registered-secrets half of `redact`
        return text if pattern is None else pattern.sub(errors._REDACTED, text)
    return redact(text)


def _could_hold_shape(text: str) -> bool:
    """False only when no credential shape of `errors._SHAPES` can match anywhere in `text`."""
    if not text.isascii() or ":" in text or "=" in text or "_" in text or "-" in text or "eyJ" in text:
        return True
    lower = text.lower()
    return "bearer" in lower or "token" in lower or "basic" in lower
