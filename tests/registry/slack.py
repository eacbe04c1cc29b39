"""patchbay-slack: zero configuration (no SLACK_BOT_TOKEN), pointed at the Slack stand-in when one runs.

Without a token the server starts, lists its read tools, and every call answers with an isError text
that names the variable to set, sending nothing; the name cache does not warm. When tests/conftest.py
provides a "slack" URL (servers/slack/tests/standin.py, start_in_background()), the server is pointed at
it, so that a stray token in the environment never reaches the real API.
"""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _launch(env: TestEnv) -> Launch:
    base_url = env.urls.get("slack", "http://127.0.0.1:9/api/")
    return Launch("patchbay-slack", ["--base-url", base_url], {"SLACK_BOT_TOKEN": "", "SLACK_USER_TOKEN": ""})


SPEC = ServerSpec(name="slack", launch=_launch)
