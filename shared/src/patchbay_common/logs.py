"""Structured logs to stderr, one request id per tool call, secrets redacted.

stdout belongs to the protocol on stdio, so every log line (ours, the SDK's, uvicorn's) goes to stderr:
JSON lines when stderr is not a terminal, readable columns when it is.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from pydantic_core import to_json

from patchbay_common import errors
from patchbay_common.errors import redact

__all__ = ["LogFormat", "configure_logging", "get_logger", "log_call", "summarize_arguments"]

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


structlog = _import_structlog()


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Structlog processor: redact every string value of the event."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Send all logging (structlog and stdlib) to stderr at `level`, as JSON or console lines."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # plain text, so the redaction below covers tracebacks too
        _redact_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # filter_by_level first: lines below the level cost no redaction or rendering
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    global _json_stream, _json_flush
    _json_stream = sys.stderr if fmt == "json" else None
    _json_flush = not _writes_each_line(sys.stderr)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
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
    stream = _json_stream
    if stream is None:
        get_logger("patchbay").info(event, **fields)
        return
    fields["event"] = event
    fields["level"] = "info"
    fields["logger"] = "patchbay"
    fields["timestamp"] = _utc_timestamp()
    try:
        stream.write(to_json(fields, fallback=str).decode() + "\n")
        if _json_flush:
            stream.flush()
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


def _configure_default() -> None:
    """Until `configure_logging` runs, route structlog through stdlib logging (stderr), never stdout."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.format_exc_info,
                _redact_event,
                structlog.stdlib.render_to_log_kwargs,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
        )


_configure_default()


def get_logger(name: str) -> Any:
    """A structlog logger; the request id of the current tool call is added to every line."""
    return structlog.stdlib.get_logger(name)


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
