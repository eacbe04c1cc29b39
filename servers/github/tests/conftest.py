"""Fixtures: a GitHub API stand-in per session, reset before each test, and settings pointing at it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import standin as standin_module
from gh_tokens import OTHER_TOKEN, TOKEN

from patchbay_github.server import Settings


@pytest.fixture(scope="session")
def standin_server() -> Iterator[standin_module.StandIn]:
    """The stand-in, started once."""
    with standin_module.running() as server:
        yield server


@pytest.fixture
def api(standin_server: standin_module.StandIn) -> standin_module.StandIn:
    """The stand-in with no overrides and no recorded requests."""
    standin_server.reset()
    return standin_server


@pytest.fixture
def make_settings(api: standin_module.StandIn, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings pointing at the stand-in, with a token in the environment; extra flags as arguments."""
    monkeypatch.setenv("GITHUB_PERSONAL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("GH_WORK", TOKEN)
    monkeypatch.setenv("GH_HOME", OTHER_TOKEN)

    def make(*flags: str) -> Settings:
        args = [
            "--api-url",
            api.base_url,
            "--seconds-between-writes",
            "0",
            "--max-rate-limit-wait",
            "2",
            *flags,
        ]
        return Settings(_cli_parse_args=args)  # type: ignore[call-arg]

    return make
