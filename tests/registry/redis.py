"""patchbay-redis: the shared redis-server, read-only tier, database 1 (left to the cross-cutting tests)."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    url = env.urls["redis"].rsplit("/", 1)[0] + "/1"
    return Launch("patchbay-redis", ["--url", url])


SPEC = ServerSpec(name="redis", launch=_launch, components=("redis",))
