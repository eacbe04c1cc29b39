"""patchbay-sqlite: no arguments at all, so it serves its built-in sample database read-only."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    return Launch("patchbay-sqlite")


SPEC = ServerSpec(name="sqlite", launch=_launch)
