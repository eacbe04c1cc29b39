"""Every tool of every server, at its widest settings, is declared through the layer.

A tool whose output carries outside-world content must declare `untrusted=`; the few that do not are
listed here by name with the reason, so a new tool cannot slip through unframed without a reviewer
seeing it in this file.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from patchbay_common import sdk

# Tools whose answers hold only the server's own words or the operator's configuration, or (filesystem)
# file text returned exactly as on disk so edits can quote it (the official server's behaviour).
OWN_CONTENT = {
    "filesystem": {
        "read_text_file": "file text as on disk, for exact edits",
        "read_media_file": "binary blocks",
        "read_multiple_files": "file text as on disk, for exact edits",
        "list_allowed_directories": "operator configuration",
        "write_file": "our confirmation",
        "edit_file": "a diff of the model's own edit",
        "create_directory": "our confirmation",
        "move_file": "our confirmation",
        "copy_file": "our confirmation",
        "delete": "our confirmation",
    },
    "sqlite": {
        "list_databases": "operator configuration",
        "append_insight": "our count",
        "create_table": "ours",
    },
    "fetch": {},
    "search": {},
    "slack": {"slack_list_workspaces": "operator configuration"},
    "github": {"get_rate_limit": "numbers", "rerun_failed_jobs": "ours", "mark_notifications_read": "ours"},
    "browser": {"wait_for": "ours", "resize": "ours"},
    "postgres": {"list_databases": "operator configuration"},
    "redis": {},
}


def widest(name: str, tmp: Path) -> list[str]:
    return {
        "filesystem": [str(tmp), "--allow-write", "--allow-delete"],
        "sqlite": ["--access", "ddl"],
        "github": ["--allow-write", "--toolsets", "all"],
        "browser": ["--allow-eval"],
        "postgres": ["--dsn", "postgresql://reader@127.0.0.1:1/db"],
        "redis": ["--url", "redis://127.0.0.1:1/0"],
    }.get(name, [])


@pytest.mark.parametrize("name", sorted(OWN_CONTENT))
def test_every_tool_is_declared_and_outside_content_is_framed(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAVE_API_KEY", "test-key")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_" + "a" * 36)
    server = importlib.import_module(f"patchbay_{name}.server")
    mcp = server.build(server.Settings(_cli_parse_args=widest(name, tmp_path)))
    tools = [tool.name for tool in sdk.registered_tools(mcp)]
    assert tools, f"{name} registers no tool"
    assert [t for t in tools if t not in mcp.tool_specs] == [], "registered without a declaration"
    unframed = {t for t in tools if mcp.tool_specs[t].untrusted is None}
    assert unframed == set(OWN_CONTENT[name]), (
        "a tool that returns outside content must declare untrusted=; one that does not belongs in "
        "OWN_CONTENT with the reason"
    )
