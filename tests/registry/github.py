"""patchbay-github in the cross-cutting tests: zero configuration (no token), default read-only toolsets.

With no token the server starts and lists its tools; calls answer with an isError text naming the variable
to set. No GitHub request is made by listing tools, so no stand-in is needed here. (For tests that call
tools, servers/github/tests/standin.py `start_in_background()` returns a base URL for `--api-url`.)
"""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    base = env.urls.get("github")
    return Launch(
        "patchbay-github",
        ["--api-url", base] if base else [],
        {"GITHUB_PERSONAL_ACCESS_TOKEN": "", "GITHUB_TOKEN": ""},
    )


SPEC = ServerSpec(name="github", launch=_launch)
