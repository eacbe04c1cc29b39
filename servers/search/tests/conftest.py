"""Fixtures for patchbay-search: a Brave Search API stand-in per test, and servers pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.testing.modules import import_file
from patchbay_search.server import Settings, build

standin_module = import_file(Path(__file__).with_name("standin.py"), "patchbay_search_tests_standin")
API_KEY: str = standin_module.TEST_KEY


@pytest.fixture
def standin() -> Iterator[Any]:
    """A fresh Brave Search API stand-in (20 requests per second, ample quota) for one test."""
    with standin_module.BraveStandIn(api_key=API_KEY) as api:
        yield api


def make_settings(base_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process server pointed at `base_url`, with the stand-in's key and a fast limiter."""
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": base_url,
        "log_level": "WARNING",
        "rate_limit": 100,
    }
    values.update(overrides)
    return Settings(_cli_parse_args=[], **values)  # type: ignore[call-arg]


@pytest.fixture
def make_server(standin: Any) -> Callable[..., Any]:
    """Build an in-process patchbay-search pointed at the stand-in, with settings overridden by keyword."""
    return lambda **overrides: build(make_settings(standin.base_url, **overrides))


@pytest.fixture
def server(make_server: Callable[..., Any]) -> Any:
    """An in-process patchbay-search pointed at the stand-in."""
    return make_server()
