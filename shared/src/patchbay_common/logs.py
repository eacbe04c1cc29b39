"""Structured logs to stderr, one request id per tool call, secrets redacted.

stdout belongs to the protocol on stdio, so every log line (ours, the SDK's, uvicorn's) goes to stderr:
JSON lines when stderr is not a terminal, readable columns when it is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic_core import to_json

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
    global _json_stream
    _json_stream = sys.stderr if fmt == "json" else None
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
_call_logger = logging.getLogger("patchbay")


def log_call(event: str, **fields: Any) -> None:
    """Write the one line a tool call logs, at INFO, as cheaply as the format allows.

    Every call pays for this line, so when logs are JSON it is rendered here in one `json.dumps` instead of
    through the processor chain (same keys as every other line); `fields` must already be redacted.
    """
    if not _call_logger.isEnabledFor(logging.INFO):
        return
    stream = _json_stream
    if stream is None:
        get_logger("patchbay").info(event, **fields)
        return
    line = {
        **fields,
        "event": event,
        "level": "info",
        "logger": "patchbay",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    try:
        stream.write(to_json(line, fallback=str).decode() + "\n")
        stream.flush()
    except (OSError, ValueError):  # stderr closed (the client went away): nothing to log to
        pass


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
        text = redact(raw[: _MAX_ARG_CHARS * 4])
        if len(raw) > _MAX_ARG_CHARS:
            text = f"{text[:_MAX_ARG_CHARS]}...(+{len(raw) - _MAX_ARG_CHARS} chars)"
        summary[key] = text
    return summary
