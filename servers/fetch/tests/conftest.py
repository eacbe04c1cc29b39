"""Fixtures for the fetch tests: the local site, and servers whose egress guard allows it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_fetch.server import Settings, build


def _load_standin() -> Any:
    """Import tests/standin.py under a name no other server's stand-in uses."""
    name = "patchbay_fetch_tests_standin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "standin.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


standin = _load_standin()


@pytest.fixture(scope="session")
def site() -> Iterator[Any]:
    """The local test site on 127.0.0.1 (see standin.py for its routes)."""
    running = standin.start_site()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


@pytest.fixture
def allowed_server() -> Any:
    """A fetch server allowed to reach loopback (the test site), with short limits."""
    return build(Settings(_cli_parse_args=["--allow-private", "--fetch-timeout", "5"]))  # type: ignore[call-arg]
