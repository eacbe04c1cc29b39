"""OpenTelemetry with real collectors: one trace through the whole chain, Prometheus scraping, redaction.

- An OTLP/HTTP receiver in the test (protobuf decoded with opentelemetry-proto) gets the spans of a server
  and of the test's client: the client's step span → the server's `tools/call` span → the sampling request
  (traceparent in its `_meta`) → the client's model span → back in the server, the page fetch (httpx2);
  and a redis server's call with its redis-py child span. No secret given in an argument, a stored value or
  an error reaches the receiver; content attributes appear only with --otel-content, redacted.
- A real Prometheus (Debian's package) scrapes `/metrics` of a server under load with the bearer token; the
  series are read back through its HTTP API, and every panel of deploy/grafana/patchbay-dashboard.json is a
  valid query naming only metrics the server exports.
- Off, the OpenTelemetry SDK is not imported at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis
from mcp_types import CreateMessageResult, TextContent
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from patchbay_common.testing.clients import HttpServer, Launch, connect, python_launch
from patchbay_common.testing.components import free_port, redis_server

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "patchbay-dashboard.json"
SECRET = "ghp_" + "Zq7" * 12  # a GitHub-token-shaped secret: redacted wherever it appears
TOKEN = "telemetry-test-token-0123456789"

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


# --- real collectors and upstreams ------------------------------------------------------------------------


@dataclass
class Receiver:
    """An OTLP/HTTP receiver: keeps every raw body and the decoded spans."""

    port: int
    bodies: list[bytes] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, path: str, body: bytes) -> None:
        with self.lock:
            self.bodies.append(body)
            if path != "/v1/traces":
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            {
                                "service": service,
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                                "status": span.status.message,
                            }
                        )

    def wait_for(self, predicate: Any, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.spans if predicate(s)]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        with self.lock:
            names = sorted({(s["service"], s["name"]) for s in self.spans})
        raise AssertionError(f"no such span arrived within {timeout} s; got {names}")

    def raw(self) -> bytes:
        with self.lock:
            return b"".join(self.bodies)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.add(self.path, body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


PAGE = (
    "<html><head><title>Ledger</title></head><body>"
    + "<p>The invoice number is 4217.</p>" * 40
    + "</body></html>"
)


@contextmanager
def page_server() -> Iterator[int]:
    """A local site: / is a page, /big a long one, anything else 404."""
    port = free_port()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path in ("/", "/big"):
                body = (PAGE * (20 if path == "/big" else 1)).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
            else:
                body = b"not here"
                self.send_response(404)
                self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Running:
    http: HttpServer
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    found.append(json.loads(line))
        return found


@contextmanager
def http_launch(launch: Launch, *flags: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    """Run `launch` over streamable HTTP with its log kept in a file the test reads."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="patchbay-otel-"))
    log = workdir / "server.log"
    argv = launch.argv("--transport", "streamable-http", "--port", str(port), "--log-format", "json", *flags)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env={**launch.environment(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Running(HttpServer(process, port, "streamable-http"), log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"{running.http.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def otel_env(receiver: Receiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


def client_tracer(receiver: Receiver) -> tuple[Any, TracerProvider]:
    """The test client's own tracer provider (not the global one), exporting to the receiver."""
    provider = TracerProvider(resource=Resource.create({"service.name": "test-client"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    )
    return provider.get_tracer("test-client"), provider


def descends(spans: list[dict[str, Any]], child: dict[str, Any], ancestor: dict[str, Any]) -> bool:
    by_id = {s["span_id"]: s for s in spans}
    seen = child
    for _ in range(20):
        if seen["parent"] == ancestor["span_id"]:
            return True
        parent = by_id.get(seen["parent"])
        if parent is None:
            return False
        seen = parent
    return False


# --- one trace through the whole chain ----------------------------------------------------------------------


async def test_one_trace_runs_from_the_client_through_sampling_and_the_fetch_and_holds_no_secret() -> None:
    with otlp_receiver() as receiver, page_server() as site:
        tracer, provider = client_tracer(receiver)
        flags = ("--allow-private", "--ignore-robots-txt", "--allow-sampling", "--otel-content")
        with http_launch(python_launch("patchbay_fetch"), *flags, env=otel_env(receiver)) as running:
            model_parents: list[str] = []

            async def model(context: Any, params: Any) -> CreateMessageResult:
                meta = (
                    params.meta.model_dump()
                    if hasattr(params.meta, "model_dump")
                    else dict(params.meta or {})
                )
                carrier = {k: v for k, v in meta.items() if k in ("traceparent", "tracestate")}
                model_parents.append(carrier.get("traceparent", ""))
                parent = TraceContextTextMapPropagator().extract(carrier)
                with tracer.start_as_current_span("host model", context=parent, kind=SpanKind.CLIENT):
                    prompt = params.messages[0].content.text
                    answer = "4217" if "4217" in prompt else "NOT FOUND"
                return CreateMessageResult(role="assistant", content=TextContent(text=answer), model="test")

            with tracer.start_as_current_span("agent step") as step:
                carrier: dict[str, str] = {}
                TraceContextTextMapPropagator().inject(carrier, context=set_span_in_context(step))
                async with connect(running.http, era="legacy", sampling_callback=model) as client:
                    answered = await client.call_tool(
                        "fetch",
                        {"url": f"http://127.0.0.1:{site}/", "question": f"invoice number? key {SECRET}"},
                        meta=carrier,
                    )
                    missing = await client.call_tool(
                        "fetch", {"url": f"http://127.0.0.1:{site}/missing?api_key={SECRET}"}, meta=carrier
                    )
            provider.shutdown()
            assert "4217" in answered.content[0].text and not answered.is_error
            assert missing.is_error
            step_id = f"{step.get_span_context().span_id:016x}"
            trace_id = f"{step.get_span_context().trace_id:032x}"

            server_spans = receiver.wait_for(
                lambda s: s["service"] == "patchbay-fetch" and s["name"] == "tools/call fetch", count=2
            )
            assert len(server_spans) == 2
            spans = receiver.wait_for(lambda s: s["name"] == "host model")
            spans = receiver.wait_for(lambda s: True)
            first, second = sorted(
                server_spans, key=lambda s: s["attributes"].get("patchbay.result.chars", 0)
            )[::-1]

            # client step -> server tools/call span
            assert first["trace_id"] == trace_id and first["parent"] == step_id
            assert first["kind"] == 2  # SERVER
            assert first["attributes"]["gen_ai.tool.name"] == "fetch"
            assert first["attributes"]["patchbay.outcome"] == "ok"
            assert first["attributes"]["patchbay.result.chars"] > 0
            assert re.fullmatch(r"[0-9a-f]{16}", first["attributes"]["patchbay.principal"])
            # server -> sampling request (traceparent in its _meta) -> the client's model span
            send = next(s for s in spans if s["name"] == "MCP send sampling/createMessage")
            assert send["trace_id"] == trace_id and descends(spans, send, first)
            model_span = next(s for s in spans if s["name"] == "host model")
            assert model_span["trace_id"] == trace_id and model_span["parent"] == send["span_id"]
            assert model_parents and send["span_id"] in model_parents[0]
            # server -> the page fetch (httpx2), a child of the tool call
            fetches = [s for s in spans if s["name"] == "GET" and s["attributes"].get("server.port") == site]
            assert any(descends(spans, s, first) for s in fetches)
            assert all(
                s["attributes"]["url.full"].endswith("/") or "missing" in s["attributes"]["url.full"]
                for s in fetches
            )
            # the error: its kind, no secret; the argument recorded (opted in) and redacted
            assert second["attributes"]["patchbay.outcome"] == "user_error"
            assert second["attributes"]["error.type"] == "tool_error"  # the SDK's semantic-convention value
            assert "***" in second["attributes"]["patchbay.argument.url"]
            assert "***" in first["attributes"]["patchbay.argument.question"]

            # the request id in the log line of each call is its trace id
            calls = [line for line in running.lines() if line.get("event") == "tool call"]
            assert {line["request_id"] for line in calls} == {trace_id}

        assert SECRET.encode() not in receiver.raw()


async def test_redis_calls_are_child_spans_without_their_values() -> None:
    with otlp_receiver() as receiver, redis_server() as instance:
        redis.Redis.from_url(instance.url).set("session:1", f"token={SECRET}")
        launch = python_launch("patchbay_redis", "--url", instance.url)
        with http_launch(launch, env=otel_env(receiver)) as running:
            async with connect(running.http, era="modern") as client:
                result = await client.call_tool("mget", {"keys": ["session:1"]})
            assert SECRET in str(result)  # the value is the model's to see, not the collector's
            call = receiver.wait_for(lambda s: s["name"] == "tools/call mget")[0]
            children = receiver.wait_for(
                lambda s: s["attributes"].get("db.system") == "redis" and s["trace_id"] == call["trace_id"]
            )
            spans = receiver.wait_for(lambda s: True)
            assert any(descends(spans, s, call) for s in children)
            assert all("db.statement" not in s["attributes"] for s in children)  # content: not opted in
            assert not any(k.startswith("patchbay.argument.") for k in call["attributes"])
        assert SECRET.encode() not in receiver.raw()
        assert b"session:1" not in receiver.raw()  # key names are arguments: content, not recorded


# --- Prometheus ---------------------------------------------------------------------------------------------


@contextmanager
def prometheus(target_port: int, token: str) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run `make setup` (apt-get install -y prometheus)"
    workdir = Path(tempfile.mkdtemp(prefix="patchbay-prom-"))
    (workdir / "token").write_text(token)
    (workdir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: patchbay\n"
        f"    authorization:\n      credentials_file: {workdir / 'token'}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    port = free_port()
    with (workdir / "log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx2.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (workdir / "log").read_text()[
                -2000:
            ]
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx2.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", (promql, answer)
    return list(answer["data"]["result"])


def wait_query(base: str, promql: str, check: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(base, promql)
        if check(result):
            return result
        assert time.monotonic() < deadline, f"{promql} never matched; last: {result}"
        time.sleep(0.25)


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


# Series that appear only once their event happens, which the fetch server under load does not produce: a
# pool (postgres) and a cut made by the layer (fetch pages within the budget itself). The cut is exported
# under this name in test_results_cut_to_the_budget_are_counted_with_their_sizes; the pool's instrument is
# checked against the telemetry module.
POOL_ONLY = {"patchbay_pool_connections", "patchbay_result_truncations_total"}


def dashboard_queries() -> list[str]:
    """Every panel's PromQL; the dashboard's shape checked on the way (ids, grid, data source, refIds)."""
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["schemaVersion"] >= 36
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job"}
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    exprs = []
    for panel in board["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
        exprs.extend(target["expr"] for target in panel["targets"])
    source = (ROOT / "shared" / "src" / "patchbay_common" / "telemetry.py").read_text()
    assert '"patchbay.pool.connections"' in source
    return exprs


async def test_prometheus_scrapes_a_server_under_load_behind_its_token_and_the_dashboard_reads_it() -> None:
    with page_server() as site:
        flags = (
            "--otel",
            "--auth-token",
            TOKEN,
            "--allow-private",
            "--ignore-robots-txt",
            "--block-host",
            "blocked.example",
            "--max-output-chars",
            "2000",
        )
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none"}
        with http_launch(python_launch("patchbay_fetch"), *flags, env=env) as running:
            base_url = running.http.base_url
            assert httpx2.get(f"{base_url}/metrics").status_code == 401  # behind the same token as /mcp
            with prometheus(running.http.port, TOKEN) as prom:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with connect(running.http, era="legacy", headers=headers) as client:
                    for _ in range(6):
                        await client.call_tool("fetch", {"url": f"http://127.0.0.1:{site}/"})
                    for _ in range(3):
                        await client.call_tool("fetch", {"url": f"http://127.0.0.1:{site}/big"})
                    for _ in range(4):
                        await client.call_tool("fetch", {"url": f"http://127.0.0.1:{site}/missing"})
                    for _ in range(2):
                        await client.call_tool("fetch", {"url": "http://blocked.example/"})
                    await client.call_tool(
                        "fetch", {"url": f"http://127.0.0.1:{free_port()}/"}
                    )  # nobody there
                    await client.list_tools()
                want = {"ok": 9, "user_error": 4, "refused": 2, "upstream_error": 1}
                result = wait_query(
                    prom,
                    'sum by (outcome) (patchbay_requests_total{mcp_method_name="tools/call"})',
                    lambda r: by_label(r, "outcome") == want,
                )
                assert by_label(result, "outcome") == want
                upstream = query(prom, "sum by (upstream_system) (patchbay_upstream_duration_seconds_count)")
                assert by_label(upstream, "upstream_system")["http"] >= 14
                waits = query(prom, "sum by (reason) (patchbay_retry_wait_seconds_count)")
                assert by_label(waits, "reason")["retry"] >= 1  # the refused connection was retried
                latency = query(
                    prom,
                    "histogram_quantile(0.5, sum by (le) "
                    '(patchbay_request_duration_seconds_bucket{mcp_method_name="tools/call"}))',
                )
                assert latency and float(latency[0]["value"][1]) > 0

                # the dashboard: every panel is a valid query that names only metrics the server exports
                exported = httpx2.get(f"{base_url}/metrics", headers=headers).text
                names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", exported, re.M))
                exprs = dashboard_queries()
                assert len(exprs) >= 8
                for expr in exprs:
                    used = set(re.findall(r"\b(patchbay_[a-z_]+)\b", expr))
                    assert used, expr
                    assert used <= names | POOL_ONLY, (expr, used - names)
                    query(prom, expr.replace("$__rate_interval", "1m").replace("$job", "patchbay"))


def test_metrics_public_opens_only_the_metrics() -> None:
    flags = ("--otel", "--auth-token", TOKEN, "--metrics-public")
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none"}
    with http_launch(python_launch("patchbay_fetch"), *flags, env=env) as running:
        base = running.http.base_url
        metrics = httpx2.get(f"{base}/metrics")  # no token: open to the scraper
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        answer = httpx2.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert answer.status_code == 401


CUT_SCRIPT = """
import anyio, sys
from patchbay_common.app import PatchbayServer
from patchbay_common.settings import CommonSettings
from patchbay_common.testing.clients import connect
from patchbay_common import telemetry

server = PatchbayServer("cutter", version="1", settings=CommonSettings(_cli_parse_args=sys.argv[1:]))

@server.tool()
async def long(n: int) -> str:
    \"\"\"A text of n characters.\"\"\"
    return "x" * n

async def main():
    async with connect(server, era="modern") as client:
        for n in (10, 5000, 9000):
            await client.call_tool("long", {"n": n})
    port = sys.argv[sys.argv.index("--metrics-port") + 1]
    import urllib.request  # the stdio server's metrics, on their own port
    print(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode())

anyio.run(main)
"""


def test_results_cut_to_the_budget_are_counted_with_their_sizes_on_the_metrics_port() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CUT_SCRIPT,
            "--otel",
            "--max-output-chars",
            "1000",
            "--metrics-port",
            str(free_port()),
        ],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert re.search(r'^patchbay_result_truncations_total\{gen_ai_tool_name="long",.*\} 2\.0$', out, re.M), (
        out
    )
    sizes = re.search(r'^patchbay_result_size_sum\{gen_ai_tool_name="long",.*\} ([0-9.e+]+)$', out, re.M)
    assert sizes and 10 < float(sizes.group(1)) <= 10 + 2 * 1000  # sizes as sent, after the cut


# --- off ------------------------------------------------------------------------------------------------


OFF_SCRIPT = """
import json, os, sys, anyio
from patchbay_fetch.server import Settings, build
from patchbay_common.testing.clients import connect
from patchbay_common import telemetry

async def main():
    server = build(Settings(_cli_parse_args=sys.argv[1:]))
    async with connect(server, era="legacy") as client:
        await client.list_tools()
        result = await client.call_tool("fetch", {"url": "http://blocked.example/"})
    loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                                            "prometheus_client")))
    print(json.dumps({"enabled": telemetry.enabled, "loaded": loaded, "error": result.is_error}))

anyio.run(main)
"""


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        ((), {}),
        (("--otel",), {"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}),
    ],
    ids=["default", "flag-and-endpoint-but-sdk-disabled"],
)
def test_off_the_sdk_is_never_imported(flags: tuple[str, ...], env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", OFF_SCRIPT, "--block-host", "blocked.example", *flags],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"enabled": False, "loaded": [], "error": True}
