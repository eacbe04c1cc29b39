"""Fixtures for patchbay-slack: a Slack Web API stand-in per test, and servers pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.testing.modules import import_file
from patchbay_slack.server import Settings, build

standin_module = import_file(Path(__file__).with_name("standin.py"), "patchbay_slack_tests_standin")
BOT_TOKEN: str = standin_module.BOT_TOKEN
USER_TOKEN: str = standin_module.USER_TOKEN


@pytest.fixture
def standin() -> Iterator[Any]:
    """A fresh Slack Web API stand-in for one test."""
    with standin_module.SlackStandIn() as api:
        yield api


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The default workspace's bot token in the environment (and no user token)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.delenv("SLACK_USER_TOKEN", raising=False)
    return monkeypatch


def make_settings(base_url: str, *args: str, **overrides: Any) -> Settings:
    """Settings for an in-process server pointed at `base_url`, from flags and keyword overrides."""
    values: dict[str, Any] = {"base_url": base_url, "log_level": "WARNING"}
    values.update(overrides)
    return Settings(_cli_parse_args=list(args), **values)  # type: ignore[call-arg]


@pytest.fixture
def make_server(standin: Any, slack_env: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build an in-process patchbay-slack pointed at the stand-in, with flags and settings overrides."""
    return lambda *args, **overrides: build(make_settings(standin.base_url, *args, **overrides))


@pytest.fixture
def server(make_server: Callable[..., Any]) -> Any:
    """An in-process, read-only patchbay-slack pointed at the stand-in with a bot token."""
    return make_server()
