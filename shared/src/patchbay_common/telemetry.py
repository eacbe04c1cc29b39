"""OpenTelemetry traces and metrics for operators, off (and never imported) unless the operator turns them on.

Turned on by `--otel` or by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, or its traces/metrics
forms); `OTEL_SDK_DISABLED=true` keeps it off whatever the flags say. Off, nothing here imports the
OpenTelemetry SDK: the call sites test the module flag `enabled` and do nothing else, so cold start and
per-call cost stay as they were (the SDK's own server span middleware, always installed by `mcp`, stays a
no-op then, as before).

On (`setup`), with the `[otel]` extra installed:

- **Traces.** `mcp` already opens one SERVER span per inbound request (`mcp.method.name`,
  `gen_ai.tool.name`, `jsonrpc.request.id`, the W3C context taken from the request's `_meta`) and one CLIENT
  span per outbound request (sampling, elicitation) with `traceparent` injected into its `_meta`. Once a
  tracer provider is installed those spans are real; this module adds to the server span what only patchbay
  knows (outcome by kind, result size, truncation, a hashed principal), makes the call's request id in the
  logs its trace id, and opens child spans for upstream calls: httpx2 (every egress-guarded client), asyncpg,
  redis-py, requests (PyGithub) and aiohttp (slack-sdk) through the official instrumentations, and `span()`
  for the rest (Playwright navigation). Not covered: sqlite (sqlite3 runs in patchbay-sqlite's connection
  thread, outside the call's context, so its time shows only in the tool call's span).
- **Metrics.** Request counts and latency by method, tool and outcome; result sizes and truncations;
  upstream latency (from the CLIENT spans, by system); retry and rate-limit waits; requests in flight; pool
  usage a server registers with `observe_pool`. Exported over OTLP when an endpoint is set, and as
  Prometheus text at `/metrics` on the HTTP transports (behind the same bearer token unless
  `--metrics-public`) or on `--metrics-port`.
- **No secrets, no content.** Every span passes a redacting exporter: string values go through
  `errors.redact`, and what may carry content (SQL text and parameters, URL queries, exception and status
  messages) is dropped unless the operator opts in with `--otel-content`, and then redacted and cut. Tool
  arguments are recorded only with `--otel-content`, summarised as in the logs. Principals are hashed.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.util
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from patchbay_common.errors import AccessDenied, UserError, redact
from patchbay_common.logs import get_logger, summarize_arguments

__all__ = [
    "classify",
    "enabled",
    "observe_pool",
    "record_retry_wait",
    "setup",
    "span",
    "tool_call_done",
    "trace_id",
    "wanted",
    "with_metrics",
]

log = get_logger("patchbay.telemetry")

enabled = False
"""True once `setup` installed the OpenTelemetry SDK in this process; every call site tests this first."""

_CONTENT_CHARS = 200  # an opted-in argument, statement or message is cut to this
_ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
# Methods named as they are in metrics; anything else a client sends is counted as "other" (no label per
# made-up method name).
_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    }
)
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (0, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000)
_UPSTREAM_LIBRARIES = frozenset(
    {"httpx2", "httpcore2", "asyncpg", "redis", "github", "slack_sdk", "aiohttp", "requests", "urllib3"}
)
_UPSTREAM_WORDS = ("Connect", "Timeout", "Transport", "Network", "Unavailable", "ServerError", "Protocol")
# Attributes that carry content (queries, their parameters, messages): dropped unless --otel-content.
_CONTENT_KEYS = frozenset(
    {
        "db.statement",
        "db.query.text",
        "db.statement.parameters",
        "db.query.parameters",
        "exception.message",
        "exception.stacktrace",
    }
)
_URL_KEYS = frozenset({"url.full", "http.url", "url.query"})


class _Call:
    """What one request's handling found out, filled in by `tool_call_done` and read by the middleware."""

    __slots__ = ("chars", "outcome", "tool", "truncated")

    def __init__(self, tool: str) -> None:
        self.tool = tool  # the tool's name as a metric label ("other" for a name not registered)
        self.outcome: str | None = None
        self.chars: int | None = None
        self.truncated = False


_current: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "patchbay_telemetry_call", default=None
)


class _State:
    """The providers and instruments `setup` made (one per process)."""

    def __init__(self, content: bool) -> None:
        self.content = content
        self.tracer: Any = None
        self.duration: Any = None
        # Counted in plain dicts and read by observable instruments at collection: a dict increment per
        # request instead of an SDK measurement (each costs a lock and an attribute-set lookup).
        self.counts: dict[tuple[tuple[str, str], ...], int] = {}
        self.in_flight: dict[str, int] = {}
        self.result_size: Any = None
        self.truncations: Any = None
        self.upstream: Any = None
        self.retry_waits: Any = None
        self.pools: dict[str, Callable[[], tuple[int, int]]] = {}
        self.metrics_text: Callable[[], bytes] | None = None
        self.content_type = "text/plain; version=0.0.4; charset=utf-8"


_state: _State | None = None


# --- turning it on --------------------------------------------------------------------------------------


def wanted(settings: Any) -> bool:
    """Whether the operator asked for telemetry: `--otel` or an OTLP endpoint, unless `OTEL_SDK_DISABLED`."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(getattr(settings, "otel", False)) or any(os.environ.get(name) for name in _ENDPOINT_VARS)


def setup(server: Any, settings: Any) -> bool:
    """Install tracing and metrics for this process (once) and hook `server` into them; False when not wanted.

    Raises `ValueError` (one line for the operator) when it is wanted but the `[otel]` extra is missing,
    or when `--metrics-port` would serve metrics unauthenticated on a non-loopback address.
    """
    global _state, enabled
    if not wanted(settings):
        return False
    if _state is None:
        try:
            _state = _install(server, settings)
        except ImportError as exc:
            package = f"patchbay-{server.name.removeprefix('patchbay-')}"
            raise ValueError(
                f"--otel needs the OpenTelemetry extra ({exc.name or exc} is missing): "
                f"pip install '{package}[otel]'"
            ) from None
        enabled = True
    _install_middleware(server)
    return True


def _install(server: Any, settings: Any) -> _State:
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    state = _State(content=bool(getattr(settings, "otel_content", False)))
    service = os.environ.get("OTEL_SERVICE_NAME") or f"patchbay-{server.name.removeprefix('patchbay-')}"
    resource = Resource.create({"service.name": service, "service.version": str(server.version or "")})

    def endpoint(signal: str) -> bool:
        if os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() == "none":
            return False
        return bool(
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        )

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(_upstream_metrics(state))
    if endpoint("traces"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(_redacting(OTLPSpanExporter(), state.content)))
    trace.set_tracer_provider(tracer_provider)

    readers: list[Any] = [PrometheusMetricReader()]
    if endpoint("metrics"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)

    state.tracer = trace.get_tracer("patchbay")
    meter = metrics.get_meter("patchbay")

    def counts(options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for key, value in list(state.counts.items()):
            yield Observation(value, dict(key))

    def in_flight(options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for method, value in list(state.in_flight.items()):
            yield Observation(value, {"mcp.method.name": method})

    meter.create_observable_counter(
        "patchbay.requests",
        callbacks=[counts],
        unit="{request}",
        description="MCP requests answered, by method, tool and outcome",
    )
    state.duration = meter.create_histogram(
        "patchbay.request.duration",
        unit="s",
        description="Time to answer one MCP request",
        explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
    )
    meter.create_observable_up_down_counter(
        "patchbay.requests.in_flight",
        callbacks=[in_flight],
        unit="{request}",
        description="MCP requests being answered now",
    )
    state.result_size = meter.create_histogram(
        "patchbay.result.size",
        unit="{char}",
        description="Characters in one tool result as sent (after capping)",
        explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
    )
    state.truncations = meter.create_counter(
        "patchbay.result.truncations", unit="{result}", description="Tool results cut to the character budget"
    )
    state.upstream = meter.create_histogram(
        "patchbay.upstream.duration",
        unit="s",
        description="Time of one upstream call (database, HTTP, the client's model), by system",
        explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
    )
    state.retry_waits = meter.create_histogram(
        "patchbay.retry.wait",
        unit="s",
        description="Waits before retrying a transient upstream failure or after a rate limit",
        explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
    )

    def pools(options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for name, read in list(state.pools.items()):
            try:
                in_use, size = read()
            except Exception:  # noqa: S112 - a pool closing while read: skip it this time
                continue
            yield Observation(in_use, {"pool": name, "state": "in_use"})
            yield Observation(max(0, size - in_use), {"pool": name, "state": "idle"})

    meter.create_observable_gauge(
        "patchbay.pool.connections",
        callbacks=[pools],
        unit="{connection}",
        description="Connections of an upstream pool, in use or idle",
    )
    state.metrics_text = lambda: generate_latest(REGISTRY)
    state.content_type = CONTENT_TYPE_LATEST

    _instrument_httpx2(state)
    _instrument_libraries(tracer_provider, _clients_of(server, settings))
    port = getattr(settings, "metrics_port", None)
    if port:
        _serve_metrics_port(settings, port)
    log.info(
        "telemetry on",
        service=service,
        traces="otlp" if endpoint("traces") else "none",
        metrics="otlp+prometheus" if endpoint("metrics") else "prometheus",
        content=state.content,
    )
    return state


def _serve_metrics_port(settings: Any, port: int) -> None:
    """Prometheus text on its own port (for stdio servers), unauthenticated: loopback unless opened."""
    from prometheus_client import start_http_server

    host = getattr(settings, "host", "127.0.0.1")
    if host not in ("127.0.0.1", "localhost", "::1") and not getattr(settings, "metrics_public", False):
        raise ValueError(
            f"--metrics-port on {host} would serve metrics without authentication: "
            "bind --host 127.0.0.1, or pass --metrics-public to allow it"
        )
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise ValueError(f"--metrics-port {port}: cannot listen on {host} ({exc.strerror or exc})") from None


def _install_middleware(server: Any) -> None:
    from patchbay_common import sdk

    lowlevel = sdk.lowlevel(server)
    if not any(isinstance(m, _Middleware) for m in lowlevel.middleware):
        lowlevel.middleware.append(_Middleware(server))


# The upstream client each server uses (its [otel] extra brings the instrumentation). Only those are
# instrumented: instrumenting imports the library, which another server need not pay for at start-up.
_CLIENTS = {"postgres": "asyncpg", "redis": "redis", "github": "requests", "slack": "aiohttp"}


def _clients_of(server: Any, settings: Any) -> set[str]:
    name = str(server.name).removeprefix("patchbay-")
    wanted = {library for key, library in _CLIENTS.items() if name == key}
    if str(getattr(settings, "event_store", "")).startswith(("redis://", "rediss://")):
        wanted.add("redis")
    return wanted


def _instrument_libraries(tracer_provider: Any, wanted: set[str]) -> None:
    """The official instrumentations for the upstream clients in `wanted` that are installed."""
    for library, module, name in (
        ("asyncpg", "opentelemetry.instrumentation.asyncpg", "AsyncPGInstrumentor"),
        ("redis", "opentelemetry.instrumentation.redis", "RedisInstrumentor"),
        ("requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
        ("aiohttp", "opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor"),
    ):
        if library not in wanted or importlib.util.find_spec(library) is None:
            continue
        try:
            instrumentor = getattr(importlib.import_module(module), name)()
        except ImportError:
            continue  # this server's extra does not bring that instrumentation
        try:
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=tracer_provider)
        except Exception as exc:  # a version mismatch must not stop the server
            log.warning("instrumentation not installed", library=library, error=str(exc))


def _instrument_httpx2(state: _State) -> None:
    """A CLIENT span around every httpx2 request (the OpenTelemetry httpx instrumentation patches `httpx`).

    Patched on `AsyncHTTPTransport`, which every egress-guarded client ends in, so clients made before
    telemetry was turned on are covered too. The query string is left out (it may carry keys or content).
    """
    import httpx2
    from opentelemetry.trace import SpanKind, StatusCode

    original = httpx2.AsyncHTTPTransport.handle_async_request
    if getattr(original, "_patchbay_traced", False):
        return

    async def handle_async_request(self: Any, request: Any) -> Any:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        attributes = {
            "http.request.method": request.method,
            "server.address": url.host,
            "server.port": port,
            "url.full": f"{url.scheme}://{url.host}:{port}{url.path}",
        }
        with state.tracer.start_as_current_span(
            request.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            try:
                response = await original(self, request)
            except BaseException as exc:
                current.set_attribute("error.type", type(exc).__qualname__)
                current.set_status(StatusCode.ERROR)
                raise
            current.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                current.set_attribute("error.type", str(response.status_code))
                current.set_status(StatusCode.ERROR)
            return response

    handle_async_request._patchbay_traced = True  # type: ignore[attr-defined]
    httpx2.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]


# --- per request ----------------------------------------------------------------------------------------


class _Middleware:
    """Context-tier middleware after the SDK's span middleware: metrics and patchbay's attributes per request.

    Runs inside the SDK's SERVER span, which it enriches; counts every request by method, tool (registered
    names only) and outcome, and times it.
    """

    def __init__(self, server: Any) -> None:
        self.server = server

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        state = _state
        if state is None:  # pragma: no cover - installed only after setup
            return await call_next(ctx)
        from opentelemetry import trace

        if ctx.method.startswith("notifications/"):
            return await call_next(ctx)
        method = ctx.method if ctx.method in _METHODS else "other"
        labels: dict[str, str] = {"mcp.method.name": method}
        if method == "tools/call":
            name = (ctx.params or {}).get("name")
            known = isinstance(name, str) and name in getattr(self.server, "tool_specs", {})
            labels["gen_ai.tool.name"] = name if known and isinstance(name, str) else "other"
        current = trace.get_current_span()
        if current.is_recording():
            principal = _principal_hash(ctx)
            if principal is not None:
                current.set_attribute("patchbay.principal", principal)
        call = _Call(labels.get("gen_ai.tool.name", "other"))
        token = _current.set(call)
        state.in_flight[method] = state.in_flight.get(method, 0) + 1
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await call_next(ctx)
            if call.outcome is not None:
                outcome = call.outcome
            elif _is_error_result(result):
                outcome = "user_error"
            return result
        except BaseException as exc:
            outcome = call.outcome or classify(exc)
            raise
        finally:
            _current.reset(token)
            seconds = time.perf_counter() - started
            labels["outcome"] = outcome
            state.in_flight[method] -= 1
            key = tuple(labels.items())
            state.counts[key] = state.counts.get(key, 0) + 1
            state.duration.record(seconds, labels)
            if current.is_recording():  # error.type is the SDK's (tool_error, a JSON-RPC code)
                current.set_attribute("patchbay.outcome", outcome)


def _is_error_result(result: Any) -> bool:
    if isinstance(result, Mapping):
        return result.get("isError") is True
    return getattr(result, "is_error", False) is True


def _principal_hash(ctx: Any) -> str | None:
    """A short hash of who is calling (`principals.principal_key`): correlates calls, reveals no identity."""
    try:
        from patchbay_common.principals import principal_key

        key = principal_key(ctx)
    except Exception:
        return None
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def trace_id() -> str | None:
    """The current trace id (32 hex digits) when tracing is on and a span is open, else None."""
    if not enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def tool_call_done(
    name: str,
    outcome: str,
    error: BaseException | None,
    chars: int,
    truncated: bool,
    arguments: Mapping[str, Any] | None,
) -> None:
    """Record how a tool call ended (called by `PatchbayServer.call_tool` only when `enabled`).

    `outcome` is the call's log outcome (ok, refused, error); the kind recorded is finer: user_error,
    refused (by policy), timeout, upstream_error, internal_error.
    """
    state = _state
    if state is None:
        return
    from opentelemetry import trace

    kind = "ok"
    if error is not None:
        kind = classify(error)
    elif outcome != "ok":
        kind = "user_error"
    call = _current.get()
    if call is not None:
        call.outcome = kind
        call.chars = chars
        call.truncated = truncated
    labels = {"gen_ai.tool.name": call.tool if call is not None else "other"}
    if kind == "ok":
        state.result_size.record(chars, labels)
        if truncated:
            state.truncations.add(1, labels)
    current = trace.get_current_span()
    if not current.is_recording():
        return
    current.set_attribute("patchbay.result.chars", chars)
    current.set_attribute("patchbay.result.truncated", truncated)
    if state.content:
        for key, value in summarize_arguments(arguments).items():
            current.set_attribute(f"patchbay.argument.{key}", value)
        if error is not None:
            current.set_attribute("patchbay.error.message", redact(str(error))[:_CONTENT_CHARS])


def classify(error: BaseException) -> str:
    """The kind of a failure for metrics: timeout, refused, upstream_error, user_error or internal_error.

    Looks down the exception's chain (causes and contexts), since the layer re-raises what a tool raised:
    a deadline anywhere is a timeout, an `AccessDenied` a refusal by policy, a connection or transport
    failure of an upstream client (or retries that ran out) an upstream error; another `UserError` (or
    `ToolError`) is the caller's; anything else is internal.
    """
    from patchbay_common.retry import DeadlineExceeded, RetryableError

    user = False
    seen: BaseException | None = error
    for _ in range(12):
        if seen is None:
            break
        if isinstance(seen, TimeoutError | DeadlineExceeded):
            return "timeout"
        if isinstance(seen, AccessDenied):
            return "refused"
        if isinstance(seen, RetryableError | ConnectionError | socket.gaierror) or _upstream(seen):
            return "upstream_error"
        if isinstance(seen, UserError) or type(seen).__name__ in ("ToolError", "ResourceError", "MCPError"):
            user = True
        seen = seen.__cause__ or seen.__context__
    return "user_error" if user else "internal_error"


def _upstream(error: BaseException) -> bool:
    """An exception of an upstream client library that says the service or the network failed."""
    root = type(error).__module__.partition(".")[0]
    if root not in _UPSTREAM_LIBRARIES:
        return False
    return any(word in cls.__name__ for cls in type(error).__mro__ for word in _UPSTREAM_WORDS)


# --- for servers and the shared layer --------------------------------------------------------------------


@contextlib.contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """A CLIENT span around an upstream call no instrumentation covers (e.g. a browser navigation).

    Off, this costs one flag test. Attribute values are redacted on export like every other.
    """
    state = _state
    if not enabled or state is None:
        yield
        return
    from opentelemetry.trace import SpanKind, StatusCode

    with state.tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield
        except BaseException as exc:
            current.set_attribute("error.type", type(exc).__qualname__)
            current.set_status(StatusCode.ERROR)
            raise


def record_retry_wait(seconds: float, reason: str) -> None:
    """Count one wait before a retry (`reason`: retry or rate_limit) and its length."""
    state = _state
    if state is not None:
        state.retry_waits.record(seconds, {"reason": reason})


def observe_pool(name: str, read: Callable[[], tuple[int, int]]) -> None:
    """Report pool `name`'s connections: `read()` gives (in use, size); no-op when telemetry is off."""
    if _state is not None:
        _state.pools[name] = read


def with_metrics(app: Any) -> Any:
    """Wrap an ASGI app so `GET /metrics` answers with the Prometheus text; other paths go to `app`."""
    state = _state
    if state is None or state.metrics_text is None:
        return app
    text = state.metrics_text
    content_type = state.content_type.encode()

    async def metrics_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/metrics":
            await app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            status, body, kind = 405, b"method not allowed\n", b"text/plain"
        else:
            status, body, kind = 200, text(), content_type
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope.get("method") != "HEAD" else b""})

    return metrics_app


# --- export: upstream metrics and redaction -------------------------------------------------------------


def _upstream_metrics(state: _State) -> Any:
    """A span processor that times every CLIENT span (an upstream call) into `patchbay.upstream.duration`."""
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import SpanKind, StatusCode

    class UpstreamMetrics(SpanProcessor):
        def on_end(self, span: Any) -> None:
            """Record the duration of a finished CLIENT span, labelled by the system it called."""
            if span.kind is not SpanKind.CLIENT or span.end_time is None or span.start_time is None:
                return
            attributes = span.attributes or {}
            system = (
                attributes.get("db.system.name")
                or attributes.get("db.system")
                or ("mcp" if "mcp.method.name" in attributes else None)
                or ("http" if "http.request.method" in attributes or "http.method" in attributes else None)
                or span.name.partition(" ")[0]
            )
            failed = span.status.status_code is StatusCode.ERROR
            labels = {"upstream.system": str(system), "outcome": "error" if failed else "ok"}
            state.upstream.record((span.end_time - span.start_time) / 1e9, labels)

    return UpstreamMetrics()


def _redacting(inner: Any, content: bool) -> Any:
    """A span exporter that passes every span through redaction before `inner` sends it."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class Redacting(SpanExporter):
        def export(self, spans: Sequence[Any]) -> Any:
            """Export redacted copies of `spans`."""
            return inner.export([_clean_span(s, content) for s in spans])

        def shutdown(self) -> None:
            """Shut the inner exporter down."""
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            """Flush the inner exporter."""
            return bool(inner.force_flush(timeout_millis))

    return Redacting()


def _clean_span(span: Any, content: bool) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    status = span.status
    description = redact(status.description)[:_CONTENT_CHARS] if content and status.description else None
    return ReadableSpan(
        name=redact(span.name)[:_CONTENT_CHARS],
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_clean_attributes(span.attributes, content),
        events=[
            Event(event.name, _clean_attributes(event.attributes, content), event.timestamp)
            for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=Status(status.status_code, description),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _clean_attributes(attributes: Mapping[str, Any] | None, content: bool) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in _CONTENT_KEYS and not content:
            continue
        if key in _URL_KEYS and isinstance(value, str) and not content:
            if key == "url.query":
                continue
            value = value.partition("?")[0].partition("#")[0]
        if isinstance(value, str):
            value = redact(value)[: _CONTENT_CHARS * 4]
        elif isinstance(value, tuple | list):
            value = tuple(redact(v)[:_CONTENT_CHARS] if isinstance(v, str) else v for v in value)
        cleaned[key] = value
    return cleaned
