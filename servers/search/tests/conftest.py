"""Fixtures for patchbay-search: a Brave Search API stand-in per test, and servers pointed at it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from patchbay_search.server import Settings, build


def _load_standin() -> ModuleType:
    """Import standin.py under a name no other server's tests use (tests are not a package)."""
    name = "patchbay_search_tests_standin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("standin.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


standin_module = _load_standin()
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
