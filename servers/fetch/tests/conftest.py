"""Fixtures for the fetch tests: the local site, and servers whose egress guard allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.testing.modules import import_file
from patchbay_fetch.server import Settings, build

standin = import_file(Path(__file__).parent / "standin.py", "patchbay_fetch_tests_standin")


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
