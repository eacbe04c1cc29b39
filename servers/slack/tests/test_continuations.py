"""Every cursor this server hands out is checked again, field by field, when it comes back.

Cursors are signed, so a forged or edited one is refused before its fields are read; but a cursor signed
by this server can still carry a value outside the server's own limits (an old cursor, another version's,
or a bug), so each field is re-validated too. Both must end as a clear isError text, never as an internal
error or a request to Slack with whatever the cursor held.
"""

from __future__ import annotations

from typing import Any

import pytest

from patchbay_common.limits import decode_cursor, encode_cursor
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

GENERAL = "C012AB3CD"
THREAD = "1482960137.003543"


async def refused(client: Any, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    shown = text(result)
    assert "cursor is not valid" in shown and "internal error" not in shown, shown
    return shown


@pytest.mark.parametrize("era", ERAS)
async def test_forged_and_out_of_range_cursors_get_a_clear_error(era: str, server: Any, standin: Any) -> None:
    standin.add_messages(GENERAL, 30)
    async with connect(server, era=era) as client:
        history = await client.call_tool("slack_get_channel_history", {"channel": GENERAL, "limit": 5})
        replies = await client.call_tool(
            "slack_get_thread_replies", {"channel": GENERAL, "thread_ts": THREAD, "limit": 1}
        )
        channels = await client.call_tool("slack_list_channels", {"limit": 2})
        users = await client.call_tool("slack_get_users", {"limit": 2})
        made = {
            "slack_get_channel_history": (history, {"channel": GENERAL}),
            "slack_get_thread_replies": (replies, {"channel": GENERAL, "thread_ts": THREAD}),
            "slack_list_channels": (channels, {}),
            "slack_get_users": (users, {}),
        }
        for tool, (first, scope) in made.items():
            cursor = first.structured_content["next_cursor"]
            assert cursor, tool
            state = decode_cursor(cursor)
            before = len(standin.requests)
            # Forged: edited, cut short, made up.
            edited = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
            for forged in (edited, cursor[: len(cursor) // 2], "eyJrIjoiaCJ9.AAAA", "x" * 5000):
                await refused(client, tool, {**scope, "cursor": forged})
            # Signed by this server, but a field outside its limits.
            bad_fields: list[dict[str, Any]] = []
            if tool == "slack_get_channel_history":
                bad_fields = [{"o": "1e300"}, {"l": "nan"}, {"l": 1700000000}, {"o": "1700000000.0000001"}]
            elif tool == "slack_get_thread_replies":
                bad_fields = [{"s": "-1"}, {"s": "inf"}, {"o": ["1700000000"]}, {"l": "9" * 40}]
            else:
                bad_fields = [
                    {"s": 10**9, "n": 10**9 + 1},
                    {"s": -1},
                    {"n": 5000},
                    {"c": "x" * 3000},
                    {"c": "bad cursor\nwith spaces"},
                    {"s": True},
                    {"m": "yes"},
                ]
            for change in bad_fields:
                await refused(client, tool, {**scope, "cursor": encode_cursor({**state, **change})})
            # Nothing reached Slack for any of them.
            assert len(standin.requests) == before, [r.method for r in standin.requests[before:]]
