"""patchbay-browser: zero configuration (public addresses only); the browser starts only on a tool call."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    return Launch("patchbay-browser", [])


SPEC = ServerSpec(name="browser", launch=_launch)
