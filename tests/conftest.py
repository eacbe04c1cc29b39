"""Fixtures for the cross-cutting tests: a TestEnv per registered server, with its components running."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening import HttpPool

from registry import SPECS, TestEnv


def component_url(request: pytest.FixtureRequest, name: str) -> str:
    """The URL of a running component, started on first use by its session fixture."""
    if name == "redis":
        return str(request.getfixturevalue("redis_instance").url)
    if name == "postgres":
        return str(request.getfixturevalue("postgres_instance").dsn)
    raise AssertionError(f"no fixture provides component {name!r}; add it to tests/conftest.py")


@pytest.fixture(scope="session")
def server_envs(request: pytest.FixtureRequest) -> Iterator[dict[str, TestEnv]]:
    """A scratch folder (prepared by the spec) and component URLs for every registered server."""
    base = Path(tempfile.mkdtemp(prefix="patchbay-servers-"))
    envs: dict[str, TestEnv] = {}
    for spec in SPECS:
        folder = base / spec.name
        folder.mkdir()
        env = TestEnv(tmp=folder, urls={name: component_url(request, name) for name in spec.components})
        if spec.prepare is not None:
            spec.prepare(env)
        envs[spec.name] = env
    yield envs
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def http_pool(server_envs: dict[str, TestEnv]) -> Iterator[HttpPool]:
    """One long-lived streamable HTTP server per registered server, shared by the hardening checks."""
    pool = HttpPool(server_envs)
    yield pool
    pool.close()
