"""File upload confined to the operator's directories; stdio and streamable HTTP; tokens kept out of logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp_types import ListRootsResult, Root

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

standin_module = sys.modules["patchbay_slack_tests_standin"]
BOT_TOKEN: str = standin_module.BOT_TOKEN


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """`up/` (the upload directory) with two files and a link out, and `secret.txt` beside it."""
    up = tmp_path / "up"
    (up / "sub").mkdir(parents=True)
    (up / "report.txt").write_bytes(b"quarterly numbers\n")
    (up / "sub" / "notes.md").write_bytes(b"# notes\n")
    (tmp_path / "secret.txt").write_bytes(b"do not send\n")
    (up / "link.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "up-evil").mkdir()
    (tmp_path / "up-evil" / "x.txt").write_bytes(b"sibling\n")
    return tmp_path


@pytest.mark.parametrize("era", ERAS)
async def test_upload_only_from_the_upload_directories(
    era: str, make_server: Callable[..., Any], standin: Any, files: Path
) -> None:
    server = make_server("--allow-post", "#general", "--upload-dir", str(files / "up"))
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "roots" not in json.dumps(tools["slack_upload_file"].input_schema)
        sent = await client.call_tool(
            "slack_upload_file",
            {
                "channel": "#general",
                "path": str(files / "up" / "report.txt"),
                "comment": "Q3",
                "title": "Report",
            },
        )
        refused = {
            name: await client.call_tool("slack_upload_file", {"channel": "#general", "path": path})
            for name, path in {
                "outside": str(files / "secret.txt"),
                "dotdot": str(files / "up" / ".." / "secret.txt"),
                "link": str(files / "up" / "link.txt"),
                "sibling": str(files / "up-evil" / "x.txt"),
                "missing": str(files / "up" / "nope.txt"),
                "directory": str(files / "up" / "sub"),
            }.items()
        }
        not_allowed = await client.call_tool(
            "slack_upload_file", {"channel": "#random", "path": str(files / "up" / "report.txt")}
        )
    assert not sent.is_error, text(sent)
    assert text(sent).startswith("Uploaded report.txt (18 B) to #general as file F")
    assert list(standin.uploads.values()) == [b"quarterly numbers\n"]
    complete = standin.calls("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == "C012AB3CD" and complete["initial_comment"] == "Q3"
    assert standin.messages["C012AB3CD"][-1]["files"][0]["title"] == "Report"
    for name, result in refused.items():
        assert result.is_error, name
    assert "outside the allowed directories" in text(refused["outside"])
    assert "outside the allowed directories" in text(refused["sibling"])
    assert "not allowed by the server's --allow-post list" in text(not_allowed)
    assert len(standin.calls("files.getUploadURLExternal")) == 1  # nothing else reached Slack
    assert b"do not send\n" not in standin.uploads.values()


async def test_client_roots_narrow_the_upload_directories(
    make_server: Callable[..., Any], standin: Any, files: Path
) -> None:
    server = make_server("--allow-post", "*", "--upload-dir", str(files / "up"))

    async def only_sub(_: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=(files / "up" / "sub").as_uri())])  # type: ignore[arg-type]

    async with connect(server, list_roots=only_sub) as client:
        inside = await client.call_tool(
            "slack_upload_file", {"channel": "#general", "path": str(files / "up/sub/notes.md")}
        )
        outside = await client.call_tool(
            "slack_upload_file", {"channel": "#general", "path": str(files / "up/report.txt")}
        )
    assert not inside.is_error, text(inside)
    assert outside.is_error and "outside the allowed directories" in text(outside)
    assert list(standin.uploads.values()) == [b"# notes\n"]


async def test_too_large_a_file_is_refused_before_sending(
    make_server: Callable[..., Any], standin: Any, files: Path
) -> None:
    server = make_server("--allow-post", "*", "--upload-dir", str(files / "up"), "--max-upload-bytes", "5")
    async with connect(server) as client:
        result = await client.call_tool(
            "slack_upload_file", {"channel": "#general", "path": str(files / "up/report.txt")}
        )
    assert result.is_error and "larger than the upload limit of 5 B" in text(result)
    assert not standin.calls("files.getUploadURLExternal")


# --- over real transports ------------------------------------------------------------------------------


def launch(standin: Any, *extra: str, token: str = BOT_TOKEN) -> Launch:
    return Launch(
        "patchbay-slack",
        ["--base-url", standin.base_url, *extra],
        {"SLACK_BOT_TOKEN": token, "SLACK_USER_TOKEN": "", "PATCHBAY_SLACK_LOG_LEVEL": "DEBUG"},
    )


async def test_over_stdio_with_posting(standin: Any) -> None:
    async with connect(launch(standin, "--allow-post", "#general"), era="legacy") as client:
        history = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        posted = await client.call_tool("slack_post_message", {"channel": "#general", "text": "from stdio"})
    assert "@spengler can you check #random?" in text(history)
    assert not posted.is_error
    assert standin.calls("chat.postMessage")[0].params["text"] == "from stdio"


async def test_over_streamable_http_in_both_eras(standin: Any) -> None:
    with http_server(launch(standin), "streamable-http") as running:
        for era in ERAS:
            async with connect(running, era=era) as client:  # type: ignore[arg-type]
                result = await client.call_tool("slack_get_users", {"limit": 3})
                assert "@spengler (W012A3CDE)" in text(result)


def test_tokens_never_reach_the_log(standin: Any) -> None:
    """Run a session at DEBUG (slack-sdk logs every request and answer) and look for the token in stderr."""
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "slack_get_channel_history", "arguments": {"channel": "#general"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "slack_get_channel_history", "arguments": {"channel": f"#{BOT_TOKEN}"}},
        },
    ]
    spec = launch(standin)
    process = subprocess.Popen(
        spec.argv(),
        env=spec.environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    answers = []
    for request in requests:
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
        if "id" in request:
            answers.append(process.stdout.readline().decode())
    out, err = process.communicate(timeout=20)
    log = err.decode()
    assert "conversations.history" in log  # the debug lines are there ...
    assert BOT_TOKEN not in log  # ... without the token
    assert BOT_TOKEN not in "".join(answers) + out.decode()
    assert "No channel named #***" in answers[2]
    assert standin.calls("conversations.history")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workspace", "acme"], "--workspace: expected NAME=ENV_VAR"),
        (["--upload-dir", "/tmp"], "--upload-dir needs --allow-post"),
        (["--allow-post", ","], "--allow-post: give channels"),
        (["--allow-post", "!#random"], "only denies channels, which allows none; to allow every other"),
        (["--base-url", "slack.com/api"], "must start with http:// or https://"),
    ],
)
def test_bad_configuration_exits_with_one_line(flags: list[str], message: str) -> None:
    done = subprocess.run(["patchbay-slack", *flags], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
