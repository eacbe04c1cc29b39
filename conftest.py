"""Fixtures every test in the workspace can use: the anyio backend and real components started once a session.

A component that is not installed fails the test with the command that installs it (`make setup`); nothing
is skipped.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from patchbay_common.testing import components

# Every server a test starts keeps its tool schema cache here, not in the user's cache directory; shared by
# the session's servers, so most starts list their tools from the cache as a user's second start does.
if "PATCHBAY_CACHE_DIR" not in os.environ:
    os.environ["PATCHBAY_CACHE_DIR"] = tempfile.mkdtemp(prefix="patchbay-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PATCHBAY_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run async tests on asyncio (the SDK and every server use it)."""
    return "asyncio"


@pytest.fixture(scope="session")
def redis_instance() -> Iterator[components.RedisInstance]:
    """A real redis-server on a free loopback port, for the whole test session."""
    with components.redis_server() as instance:
        yield instance


@pytest.fixture(scope="session")
def postgres_instance() -> Iterator[components.PostgresInstance]:
    """A real PostgreSQL (initdb + pg_ctl, or PATCHBAY_TEST_POSTGRES_DSN), for the whole test session."""
    with components.postgres_server() as instance:
        yield instance


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium binary Playwright should launch."""
    return components.chromium_executable()
