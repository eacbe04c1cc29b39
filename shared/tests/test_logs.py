"""The per-call log line and its argument summary, and the per-call deadline, as the call path uses them.

The call path takes shortcuts for speed (a pre-check before the redaction regexes, a cached timestamp prefix,
one timer for all deadlines); these tests hold each shortcut to the behaviour it replaces.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import string
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError

import patchbay_common.logs as logs
from patchbay_common import errors
from patchbay_common.app import PatchbayServer
from patchbay_common.errors import redact, register_secret
from patchbay_common.settings import CommonSettings

SECRET = "Zq7-test-logs-registered-secret"  # registered once per process: only this text is redacted anywhere
register_secret(SECRET)

# One sample per credential shape of errors._SHAPES, each must be redacted in an argument summary.
SHAPE_SAMPLES = [
    "postgres://app:pa55word@db.internal/x",
    "Authorization: Bearer abcdefgh12345678",
    "token abcdefgh12345678",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "ghp_" + "a1" * 12,
    "github_pat_" + "b2" * 12,
    "xoxb-1234567890-abcdef",
    "xapp-1-abcdefghij",
    "password=hunter2",
    "API_KEY: abc123",
]


def test_the_shapes_the_pre_check_covers_are_the_shapes_redact_knows() -> None:
    # logs._could_hold_shape lists what each shape needs in order to match; a new or changed shape must be
    # checked against it (and this digest updated) or a secret could slip past the pre-check into the log.
    digest = hashlib.sha256(errors._SHAPES.pattern.encode()).hexdigest()[:16]
    assert digest == "ee2d4454d9063cd5", "_SHAPES changed: update logs._could_hold_shape and this digest"


@pytest.mark.parametrize("text", [*SHAPE_SAMPLES, f"x {SECRET} y", "plain words", "a_b", "baſic abcdefghijk"])
def test_argument_redaction_equals_redact(text: str) -> None:
    assert logs._redact_argument(text) == redact(text)
    assert logs._redact_argument(repr(text)) == redact(repr(text))


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=string.ascii_letters + string.digits + " :=_-./@*'\"\nſK", max_size=60)
    | st.sampled_from(SHAPE_SAMPLES).map(lambda s: f"see {s} there")
    | st.text(max_size=40).map(lambda s: s + SECRET[: len(s) % 8 + 20] + SECRET)
)
def test_argument_redaction_equals_redact_on_any_text(text: str) -> None:
    assert logs._redact_argument(text) == redact(text)


@pytest.mark.parametrize("secret", SHAPE_SAMPLES)
def test_a_token_like_argument_never_reaches_the_summary(secret: str) -> None:
    summary = logs.summarize_arguments({"value": secret, "nested": {"k": [secret]}})
    for text in summary.values():
        assert "***" in text
    value = re.split(r"[:=\s]", secret)[-1]
    assert value not in summary["value"]


def test_the_summary_keeps_scalars_and_caps_long_arguments() -> None:
    summary = logs.summarize_arguments(
        {"n": 3, "flag": True, "none": None, "text": "hello", "long": "x" * 5000, "secret": SECRET}
    )
    assert summary["n"] == "3" and summary["flag"] == "True" and summary["none"] == "None"
    assert summary["text"] == "'hello'"
    assert summary["long"] == "'" + "x" * 199 + "...(+4802 chars)"
    assert summary["secret"] == "'***'"
    assert logs.summarize_arguments(None) == {}


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """configure_logging as `serve` does it, writing to a buffer; root logging restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._json_stream, logs._json_flush, logs._handler, logs._format
    stream = io.StringIO()
    real, sys.stderr = sys.stderr, stream
    try:
        logs.configure_logging("INFO", "json")
    finally:
        sys.stderr = real
    try:
        yield stream
    finally:
        root.handlers[:], level, logs._json_stream, logs._json_flush, logs._handler, logs._format = saved
        root.setLevel(level)


class Loud:
    """An argument that counts how often it is put into a summary."""

    reprs = 0

    def __repr__(self) -> str:
        Loud.reprs += 1
        return "Loud()"


def test_one_json_line_per_call_with_the_usual_keys(json_log: io.StringIO) -> None:
    before = datetime.now(UTC)
    logs.log_call("tool call", {"token": f"token {'t' * 20}"}, request_id="abc", tool="echo", ms=1.5, chars=3)
    (line,) = json_log.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "tool call" and record["level"] == "info" and record["logger"] == "patchbay"
    assert record["request_id"] == "abc" and record["tool"] == "echo" and record["ms"] == 1.5
    assert record["arguments"] == {"token": "'token ***'"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["timestamp"])
    stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_plain_line_is_written_as_structlog_writes_it(json_log: io.StringIO) -> None:
    """Written here while only our handler listens; the same fields, redaction and call ids as structlog's."""
    log = logs.get_logger("patchbay.test")
    fields = {"where": f"redis://reader:{'p' * 12}@db:6379/0", "count": 3, "names": ["a"]}
    token = logs.bind_call("abc", "echo")
    try:
        logging.root.handlers[:] = [logs._handler]  # as in a server: pytest's own handlers would see records
        log.info("configured", **fields)
        log.debug("below the level")
        logging.root.handlers.append(logging.NullHandler())  # another listener: structlog renders the line
        log.info("configured", **fields)
    finally:
        logs.reset_call(token)
    fast, slow = (json.loads(line) for line in json_log.getvalue().splitlines())
    assert fast.pop("timestamp") and slow.pop("timestamp")
    assert (
        fast
        == slow
        == {
            "where": "redis://reader:***@db:6379/0",
            "count": 3,
            "names": ["a"],
            "request_id": "abc",
            "tool": "echo",
            "event": "configured",
            "level": "info",
            "logger": "patchbay.test",
        }
    )


def test_a_line_with_a_traceback_goes_through_structlog(json_log: io.StringIO) -> None:
    logging.root.handlers[:] = [logs._handler]
    try:
        raise ValueError("boom")
    except ValueError:
        logs.get_logger("patchbay.test").warning("failed", exc_info=True)
    (line,) = json_log.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "failed" and "ValueError: boom" in record["exception"]


def test_below_info_the_call_line_costs_no_summary(json_log: io.StringIO) -> None:
    logging.getLogger().setLevel("WARNING")
    Loud.reprs = 0
    logs.log_call("tool call", {"x": Loud()}, request_id="abc", tool="echo")
    assert json_log.getvalue() == "" and Loud.reprs == 0


def test_console_format_gets_the_same_fields(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logs._json_stream, logs._json_flush
    try:
        logs.configure_logging("INFO", "console")
        logs.log_call("tool call", {"text": "hi"}, request_id="abc", tool="echo")
    finally:
        root.handlers[:], level, logs._json_stream, logs._json_flush = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "tool call" in err and "request_id=abc" in err and "'hi'" in err


# --- the deadline: one timer for every call in flight ----------------------------------------------------


def _server(timeout: float, cleaned_up: list[float] | None = None) -> PatchbayServer:
    settings = CommonSettings(_cli_parse_args=[], tool_timeout=timeout)  # type: ignore[call-arg]
    server = PatchbayServer("t", version="0", settings=settings)

    @server.tool()
    async def wait(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    async def shielded(seconds: float) -> str:
        """Sleep in a shielded scope (cleanup a deadline must not interrupt), then answer."""
        with anyio.CancelScope(shield=True):
            await anyio.sleep(seconds)
            if cleaned_up is not None:
                cleaned_up.append(seconds)
        await anyio.sleep(30)
        return "not reached"

    return server


def _text(result: Any) -> str:
    return str(result.content[0].text if hasattr(result, "content") else result[0][0].text)


@pytest.mark.anyio
async def test_calls_in_flight_time_out_each_at_its_own_deadline() -> None:
    cleaned_up: list[float] = []
    server = _server(0.5, cleaned_up)
    with anyio.fail_after(25):  # a hang guard, far above the deadlines
        async with anyio.create_task_group() as tg:
            outcomes: dict[str, str] = {}

            async def call(key: str, seconds: float) -> None:
                try:
                    outcomes[key] = _text(await server.call_tool("wait", {"seconds": seconds}))
                except ToolError as exc:
                    outcomes[key] = str(exc)

            tg.start_soon(call, "slow", 30)
            tg.start_soon(call, "quick", 0)  # leaves the table before the slow call's deadline
            tg.start_soon(call, "slow too", 30)
        assert outcomes["quick"] == "slept 0.0"
        for key in ("slow", "slow too"):
            assert outcomes[key].startswith("wait did not finish within 0.5 s and was stopped.")
        # the keeper keeps working for the next calls, and a shielded part still runs to its end
        assert _text(await server.call_tool("wait", {"seconds": 0})) == "slept 0.0"
        with pytest.raises(ToolError, match=r"shielded did not finish within 0\.5 s"):
            await server.call_tool("shielded", {"seconds": 1})
        assert cleaned_up == [1]
        assert not server._deadlines or not server._deadlines.pending


@pytest.mark.anyio
async def test_a_shorter_timeout_is_not_held_up_by_an_earlier_longer_one() -> None:
    server = _server(60)
    with anyio.fail_after(25):  # the short call must end long before the first call's 60 s
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.call_tool, "wait", {"seconds": 60})
            await anyio.sleep(0.05)
            server.patchbay_settings = server.patchbay_settings.model_copy(update={"tool_timeout": 0.3})
            with pytest.raises(ToolError, match=r"did not finish within 0\.3 s"):
                await server.call_tool("wait", {"seconds": 60})
            tg.cancel_scope.cancel()
