"""Built-in protective rules survive an operator's additions; only an explicit --no-default-... drops them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_filesystem.server import BUILT_IN_RULES, Settings, build, rules

pytestmark = pytest.mark.anyio


def make(*args: str) -> Any:
    return build(Settings(_cli_parse_args=list(args)))  # type: ignore[call-arg]


def text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture
def repo(allowed: Path) -> Path:
    (allowed / ".git" / "hooks").mkdir(parents=True)
    (allowed / ".git" / "config").write_text("[core]\n")
    (allowed / "uv.lock").write_text("lock\n")
    return allowed


async def _write(client: Any, path: Path) -> Any:
    return await client.call_tool("write_file", {"path": str(path), "content": "rm -rf ~\n"})


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    "extra",
    [
        ["--deny-write", "*.lock"],
        ["--deny-write", "*.lock", "--deny-write", "secrets/"],
        ["--deny-write", ".git"],  # naming the default again changes nothing
        ["--deny", "*.pem"],  # another list flag given does not drop this one's defaults either
        [],
    ],
)
async def test_operator_rules_add_to_the_git_protection(repo: Path, era: Era, extra: list[str]) -> None:
    async with connect(make(str(repo), "--allow-write", *extra), era=era) as client:
        for target in (repo / ".git" / "hooks" / "pre-commit", repo / ".git" / "config"):
            refused = await _write(client, target)
            assert refused.is_error and "write-protection rule '.git'" in text(refused), (
                extra,
                text(refused),
            )
        if "*.lock" in extra:
            lock = await _write(client, repo / "uv.lock")
            assert lock.is_error and "write-protection rule '*.lock'" in text(lock)
        rules_line = text(await client.call_tool("list_allowed_directories", {}))
        assert "Read-only patterns: .git" in rules_line
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert (repo / ".git" / "config").read_text() == "[core]\n"


async def test_the_environment_adds_too(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_FILESYSTEM_DENY_WRITE", '["*.lock"]')
    async with connect(make(str(repo), "--allow-write")) as client:
        assert (await _write(client, repo / ".git" / "config")).is_error
        assert (await _write(client, repo / "uv.lock")).is_error


@pytest.mark.parametrize("how", ["flag", "env"])
async def test_no_default_deny_write_drops_only_the_default(
    repo: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    args = [str(repo), "--allow-write", "--deny-write", "*.lock"]
    if how == "flag":
        args.append("--no-default-deny-write")
    else:
        monkeypatch.setenv("PATCHBAY_FILESYSTEM_DEFAULT_DENY_WRITE", "false")
    async with connect(make(*args)) as client:
        hook = await _write(client, repo / ".git" / "hooks" / "pre-commit")
        assert not hook.is_error, text(hook)
        assert (await _write(client, repo / "uv.lock")).is_error
    assert (repo / ".git" / "hooks" / "pre-commit").read_text() == "rm -rf ~\n"


def test_every_list_valued_rule_flag_has_built_ins_and_a_switch_when_they_exist() -> None:
    settings = Settings(_cli_parse_args=["/tmp"])  # type: ignore[call-arg]
    rule_flags = {"deny", "deny_write", "read_only_path"}  # the list-valued flags that protect paths
    assert set(BUILT_IN_RULES) == rule_flags
    for name, defaults in BUILT_IN_RULES.items():
        assert Settings.model_fields[name].default_factory is list, name  # the operator's list starts empty
        assert rules(settings, name) == list(defaults)
        if defaults:
            assert f"default_{name}" in Settings.model_fields, name
            off = Settings(_cli_parse_args=["/tmp", f"--no-default-{name.replace('_', '-')}"])  # type: ignore[call-arg]
            assert rules(off, name) == []
