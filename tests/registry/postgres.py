"""patchbay-postgres in the cross-cutting tests: read tier (the default) on the session's PostgreSQL."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    return Launch("patchbay-postgres", ["--dsn", f"test={env.urls['postgres']}"])


SPEC = ServerSpec(name="postgres", launch=_launch, components=("postgres",))
