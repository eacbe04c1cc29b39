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
    [backup] = path.parent.glob(path.name + ".*.bak")
    assert json.loads(backup.read_text()) == original
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
    assert "env" not in entry  # an optional secret is written only when asked for
    asked = subprocess.run(
        [sys.executable, str(script), "config", "claude-desktop", "--secret", "PATCHBAY_DEMO_API_KEY"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    entry = json.loads(asked.stdout)["mcpServers"]["demo"]
    assert entry["env"] == {"PATCHBAY_DEMO_API_KEY": "<PATCHBAY_DEMO_API_KEY>"}
    moved = subprocess.run(
        [
            sys.executable,
            str(script),
            "config",
            "cursor",
            "--",
            "--api-key",
            "s3cret",
            "--log-level",
            "INFO",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    entry = json.loads(moved.stdout)["mcpServers"]["demo"]
    assert "s3cret" not in json.dumps(entry["args"]) and entry["args"][-2:] == ["--log-level", "INFO"]
    assert entry["env"] == {"PATCHBAY_DEMO_API_KEY": "s3cret"}


# --- never losing data ------------------------------------------------------------------------------------


def _write(argv: list[str], secrets: list[str] | None = None, **kwargs: object) -> int:
    return config_main("patchbay-demo", argv, secrets or [], **kwargs)  # type: ignore[arg-type]


def test_a_placeholder_never_overwrites_a_real_value_and_backups_accumulate(home: Path) -> None:
    path = config_path("claude-desktop", "linux")
    assert _write(["claude-desktop", "--write", "--platform", "linux"], ["DEMO_TOKEN"]) == 0
    document = json.loads(path.read_text())
    entry = document["mcpServers"]["demo"]
    entry["env"] = {"DEMO_TOKEN": "real-token", "EXTRA": "mine"}
    entry["disabled"] = False  # a client-specific key the user set
    path.write_text(json.dumps(document))
    for flag in ("--x", "--y", "--y"):
        assert _write(["claude-desktop", "--write", "--platform", "linux", "--", flag], ["DEMO_TOKEN"]) == 0
    entry = json.loads(path.read_text())["mcpServers"]["demo"]
    assert entry["env"] == {"DEMO_TOKEN": "real-token", "EXTRA": "mine"}
    assert entry["disabled"] is False and entry["args"][-1] == "--y"
    assert len(list(path.parent.glob(path.name + ".*.bak"))) == 2  # one per write that changed the file


def test_a_symlinked_config_file_stays_a_symlink(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "claude.json"
    target.parent.mkdir()
    target.write_text('{"mcpServers": {}}')
    target.chmod(0o640)
    path = config_path("claude-desktop", "linux")
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    assert _write(["claude-desktop", "--write", "--platform", "linux"]) == 0
    assert path.is_symlink() and "demo" in json.loads(target.read_text())["mcpServers"]
    assert target.stat().st_mode & 0o777 == 0o640


def test_vscode_jsonc_is_read_and_its_comments_kept(home: Path) -> None:
    path = config_path("vscode", "linux")
    path.parent.mkdir(parents=True)
    path.write_text(
        '// my servers\n{\n  "servers": {\n    /* keep */\n    "other": {"command": "x",},\n  },\n'
        '  "inputs": [1, 2,],\n}\n'
    )
    assert _write(["vscode", "--write", "--platform", "linux"]) == 0
    text = path.read_text()
    assert "// my servers" in text and "/* keep */" in text and '"inputs": [1, 2,]' in text
    assert _write(["vscode", "--write", "--platform", "linux", "--", "--y"]) == 0
    from patchbay_common.client_config import parse_jsonc

    document = parse_jsonc(path.read_text())
    assert document["servers"]["other"] == {"command": "x"}
    assert document["servers"]["demo"]["args"][-1] == "--y"
    assert "/* keep */" in path.read_text()


def test_jsonc_is_refused_where_the_client_needs_strict_json(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_path("claude-desktop", "linux")
    path.parent.mkdir(parents=True)
    path.write_text('{"mcpServers": {}, // comment\n}')
    assert _write(["claude-desktop", "--write", "--platform", "linux"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def _settings_cls() -> type:
    from pydantic import Field, SecretStr
    from pydantic_settings import CliPositionalArg

    from patchbay_common.settings import CommonSettings, settings_config

    class Settings(CommonSettings):
        model_config = settings_config("demo")
        directories: CliPositionalArg[list[str]] = Field(default_factory=list, description="dirs")
        dsn: str | None = Field(None, description="database")
        password: SecretStr | None = Field(None, description="password")

    return Settings


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
        (["relative/dir"], "a relative path"),
        (["/no/such/directory"], "does not exist"),
        (["--port", "abc"], "--port"),
    ],
)
def test_server_arguments_are_checked_before_anything_is_written(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    path = config_path("cursor", "linux")
    argv = ["cursor", "--write", "--platform", "linux", "--", *args]
    assert _write(argv, settings_cls=_settings_cls()) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not path.exists()


def test_secrets_given_as_flags_go_to_env(home: Path, tmp_path: Path) -> None:
    argv = ["cursor", "--", str(tmp_path), "--dsn", "postgresql://u:pw@h/db", "--password=hunter2"]
    entry = _printed(argv, ["PATCHBAY_DEMO_DSN"], settings_cls=_settings_cls())
    assert entry["args"][-1] == str(tmp_path)
    assert "pw" not in json.dumps(entry["args"]) and "hunter2" not in json.dumps(entry["args"])
    assert entry["env"] == {
        "PATCHBAY_DEMO_DSN": "postgresql://u:pw@h/db",
        "PATCHBAY_DEMO_PASSWORD": "hunter2",
    }


def _printed(argv: list[str], secrets: list[str], **kwargs: object) -> dict[str, object]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _write(argv, secrets, **kwargs) == 0
    return json.loads(out.getvalue())["mcpServers"]["demo"]  # type: ignore[no-any-return]


def test_sources() -> None:
    assert server_entry("patchbay-x", "cursor", source="pypi")["args"] == ["patchbay-x"]
    git = server_entry("patchbay-x", "cursor", source="git", ref="v0.1.0")["args"]
    assert git == [
        "--from",
        "git+https://github.com/patchbay-mcp/patchbay@v0.1.0#subdirectory=servers/x",
        "patchbay-x",
    ]
    from patchbay_common.client_config import ConfigProblem

    with pytest.raises(ConfigProblem, match="--source local needs"):
        server_entry("patchbay-x", "cursor", source="local")
