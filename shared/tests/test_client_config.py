"""`patchbay-<name> config <client>` against temporary home directories laid out like each OS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from patchbay_common.client_config import CLIENTS, config_main, config_path, server_entry

LAYOUTS = {
    ("claude-desktop", "macos"): "Library/Application Support/Claude/claude_desktop_config.json",
    ("claude-desktop", "linux"): ".config/Claude/claude_desktop_config.json",
    ("claude-desktop", "windows"): "AppData/Roaming/Claude/claude_desktop_config.json",
    ("vscode", "macos"): "Library/Application Support/Code/User/mcp.json",
    ("vscode", "linux"): ".config/Code/User/mcp.json",
    ("vscode", "windows"): "AppData/Roaming/Code/User/mcp.json",
    ("claude-code", "linux"): ".claude.json",
    ("cursor", "windows"): ".cursor/mcp.json",
    ("windsurf", "macos"): ".codeium/windsurf/mcp_config.json",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("XDG_CONFIG_HOME", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData" / "Roaming"))
    return tmp_path


@pytest.mark.parametrize(("client", "platform"), sorted(LAYOUTS))
def test_write_creates_the_documented_file(
    home: Path, client: str, platform: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = config_main(
        "patchbay-demo", [client, "--write", "--platform", platform, "--", "/data"], ["DEMO_TOKEN"]
    )
    assert status == 0
    path = home / LAYOUTS[(client, platform)]
    document = json.loads(path.read_text())
    entry = document[CLIENTS[client].key]["demo"]
    assert entry["command"] == "uvx"
    assert entry["args"] == ["patchbay-demo", "/data"]
    assert entry["env"] == {"DEMO_TOKEN": "<DEMO_TOKEN>"}  # a placeholder, never a real secret
    assert ("type" in entry) == CLIENTS[client].typed
    assert str(path) in capsys.readouterr().out


def test_merge_keeps_other_entries_is_idempotent_and_keeps_a_backup(home: Path) -> None:
    path = config_path("claude-desktop", "linux")
    path.parent.mkdir(parents=True)
    original = {"mcpServers": {"other": {"command": "x"}}, "theme": "dark"}
    path.write_text(json.dumps(original))
    assert config_main("patchbay-demo", ["claude-desktop", "--write", "--platform", "linux"]) == 0
    first = path.read_text()
    document = json.loads(first)
    assert document["mcpServers"]["other"] == {"command": "x"} and document["theme"] == "dark"
    assert json.loads(path.with_name(path.name + ".bak").read_text()) == original
    assert config_main("patchbay-demo", ["claude-desktop", "--write", "--platform", "linux"]) == 0
    assert path.read_text() == first  # nothing changed the second time
    assert list(path.parent.glob("*.tmp")) == []


def test_invalid_existing_file_is_refused_not_overwritten(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_path("cursor", "linux")
    path.parent.mkdir(parents=True)
    path.write_text("{ this is not json")
    assert config_main("patchbay-demo", ["cursor", "--write", "--platform", "linux"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert path.read_text() == "{ this is not json"


def test_explicit_secret_and_local_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    assert config_main("patchbay-demo", ["vscode", "--local", "--env", "DEMO_TOKEN=abc"], ["DEMO_TOKEN"]) == 0
    printed = json.loads(capsys.readouterr().out)
    entry = printed["servers"]["demo"]
    assert entry == {
        "type": "stdio",
        "command": sys.executable,
        "args": ["-m", "patchbay_demo"],
        "env": {"DEMO_TOKEN": "abc"},
    }


def test_entry_shape() -> None:
    assert server_entry("patchbay-x", "cursor", local=False, server_args=[], env={}) == {
        "command": "uvx",
        "args": ["patchbay-x"],
    }


def test_config_subcommand_through_serve(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(
        textwrap.dedent(
            """
            from pydantic import Field, SecretStr
            from patchbay_common.app import serve
            from patchbay_common.settings import CommonSettings, settings_config

            class Settings(CommonSettings):
                model_config = settings_config("demo")
                api_key: SecretStr | None = Field(None, description="key")

            serve(lambda s: None, Settings)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script), "config", "claude-desktop"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["mcpServers"]["demo"]
    assert entry["env"] == {"PATCHBAY_DEMO_API_KEY": "<PATCHBAY_DEMO_API_KEY>"}
