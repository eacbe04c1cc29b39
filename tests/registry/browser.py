"""patchbay-browser: zero configuration (public addresses only); the browser starts only on a tool call."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    # One user: over unauthenticated streamable HTTP the browser refuses to start without --single-user.
    return Launch("patchbay-browser", ["--single-user"])


SPEC = ServerSpec(name="browser", launch=_launch)
