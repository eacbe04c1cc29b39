"""patchbay-search: zero configuration (no BRAVE_API_KEY), pointed at the Brave stand-in when one runs.

Without a key every tool call answers with an isError text and sends nothing, so no stand-in is needed;
when tests/conftest.py provides a "brave" URL (servers/search/tests/standin.py, start_in_background()),
the server is pointed at it so that a stray key in the environment never reaches the real API.
"""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    args = ["--base-url", env.urls["brave"]] if "brave" in env.urls else ["--base-url", "http://127.0.0.1:9"]
    return Launch("patchbay-search", args, {"BRAVE_API_KEY": ""})


SPEC = ServerSpec(name="search", launch=_launch)
