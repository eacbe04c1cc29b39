"""patchbay-fetch: zero configuration (public addresses only); no component needed to list and call it."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    return Launch("patchbay-fetch", [])


SPEC = ServerSpec(name="fetch", launch=_launch)
