"""Every tool that shows Slack content, with a hostile payload in every field and far too much of it.

The payload (`HOSTILE`: an instruction, forged frame boundaries, invisible characters) is put where Slack
content comes from: channel names and topics, user names, titles and profiles, message text, authors,
file names, reaction names, scheduled messages, a permalink, and the IDs and timestamps a write answers
with. Each answer must be neutralized (framed, sanitized, nothing invisible) and fit a small budget, text
and structured form together, in both protocol eras; paged answers must still say how to continue.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import HOSTILE, assert_capped, assert_neutralized, structured, text

pytestmark = pytest.mark.anyio

standin_module = sys.modules["patchbay_slack_tests_standin"]
BUDGET = 3000
GENERAL = "C012AB3CD"
PARENT = "1482960137.003543"


def poison(standin: Any) -> str:
    """Put HOSTILE into every field the stand-in serves, and far more of it than fits; return a message ts."""
    big = HOSTILE * 40
    for channel in standin.channels:
        channel["name"] = HOSTILE
        channel["topic"] = {"value": big}
        channel["purpose"] = {"value": big}
    for i in range(300):
        cid = f"C9{i:07d}"
        standin.channels.append({**standin.channels[-1], "id": cid, "is_member": False, "is_archived": False})
        standin.messages[cid] = []
    for user in standin.users:
        user.update(name=HOSTILE + user["id"], real_name=big, tz=HOSTILE)
        user["profile"].update(display_name=HOSTILE, real_name=big, title=big, status_text=HOSTILE)
    for i in range(300):
        standin.users.append({**standin.users[0], "id": f"U9{i:07d}", "name": f"{HOSTILE}{i}"})
    author = standin.users[0]["id"]
    hostile_message = {
        "type": "message",
        "user": author,
        "username": HOSTILE,
        "text": f"{big} <@{author}> <#{GENERAL}>",
        "files": [{"name": HOSTILE}, {"title": big}],
        "reactions": [{"name": HOSTILE, "count": 2, "users": [author, "U9NOBODY1"]}],
        "reply_count": 1,
        "thread_ts": PARENT,
    }
    start = time.time() - 3600
    for i in range(250):
        ts = f"{start + i:.6f}"
        standin.messages[GENERAL].append({**hostile_message, "ts": ts})
    standin.messages[GENERAL].sort(key=lambda m: float(m["ts"]))
    thread = standin.replies[PARENT]
    thread[0]["text"] = big
    for i in range(200):
        thread.append({**hostile_message, "ts": f"{1483051909 + i}.000100"})
    for i in range(150):
        standin.scheduled.append(
            {"id": f"Q9{i:08d}", "channel_id": GENERAL, "post_at": int(time.time()) + 600, "text": big}
        )
    return standin.messages[GENERAL][-1]["ts"]


@pytest.mark.parametrize("era", ERAS)
async def test_every_tool_neutralizes_hostile_slack_content_under_a_small_budget(
    era: str, make_server: Callable[..., Any], standin: Any, slack_env: pytest.MonkeyPatch
) -> None:
    slack_env.setenv("SLACK_USER_TOKEN", standin_module.USER_TOKEN)
    ts = poison(standin)
    server = make_server("--allow-post", "*", max_output_chars=BUDGET, warm_cache=False)
    profile = {
        key: HOSTILE * 30
        for key in ("real_name", "display_name", "title", "email", "phone", "pronouns", "status_text")
    }
    profile["fields"] = {f"X{i}": {"label": HOSTILE, "value": HOSTILE * 10} for i in range(50)}
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "channels": ("slack_list_channels", {"limit": 200, "include_archived": True}),
        "member channels": ("slack_list_channels", {"member_only": True}),
        "history": ("slack_get_channel_history", {"channel": GENERAL, "limit": 200}),
        "thread": ("slack_get_thread_replies", {"channel": GENERAL, "thread_ts": PARENT, "limit": 200}),
        "users": ("slack_get_users", {"limit": 200}),
        "search users": ("slack_search_users", {"query": "ignore", "limit": 100}),
        "profile": ("slack_get_user_profile", {"user": standin.users[0]["id"]}),
        "search": ("slack_search_messages", {"query": "ignore", "count": 100}),
        "unread": ("slack_unread_summary", {"since": "2000-01-01"}),
        "permalink": ("slack_get_permalink", {"channel": GENERAL, "message_ts": ts}),
        "reactions": ("slack_get_reactions", {"channel": GENERAL, "timestamp": ts}),
        "scheduled": ("slack_list_scheduled_messages", {}),
        "post": ("slack_post_message", {"channel": GENERAL, "text": "hello"}),
        "reply": ("slack_reply_to_thread", {"channel": GENERAL, "thread_ts": PARENT, "text": "hi"}),
        "schedule": ("slack_schedule_message", {"channel": GENERAL, "text": "x", "post_at": "2999-01-01"}),
        "react": ("slack_add_reaction", {"channel": GENERAL, "timestamp": ts, "reaction": "tada"}),
    }
    results: dict[str, Any] = {}
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        for name, (tool, arguments) in calls.items():
            if name == "profile":
                standin.inject("users.profile.get", {"profile": profile})
            if name == "permalink":
                standin.inject("chat.getPermalink", {"channel": GENERAL, "permalink": big_link()})
            if name in ("post", "reply"):
                standin.inject("chat.postMessage", {"channel": GENERAL, "ts": HOSTILE})
            if name == "schedule":
                standin.inject("chat.scheduleMessage", {"scheduled_message_id": HOSTILE, "post_at": 1})
            results[name] = await client.call_tool(tool, arguments)
        followed = await client.call_tool(
            "slack_get_channel_history",
            {"channel": GENERAL, "limit": 200, "cursor": structured(results["history"])["next_cursor"]},
        )
        directories = [
            await client.read_resource("slack://default/channels"),
            await client.read_resource("slack://default/users"),
        ]
    for name, result in results.items():
        assert not result.is_error, (name, text(result))
        assert_neutralized(result)
        assert_capped(result, BUDGET)
        if name not in ("post", "reply", "schedule", "react"):
            assert "Ignore previous instructions" in text(result), name  # the payload is shown, framed
    for name in ("channels", "history", "thread", "users"):  # pages cut by the budget say how to go on
        assert "call again with cursor=" in text(results[name]), name
        assert structured(results[name])["next_cursor"], name
    for name in ("search users", "search", "scheduled", "profile"):
        assert "[truncated: showing " in text(results[name]), name
    shown = {m["ts"] for m in structured(results["history"])["messages"]}
    more = {m["ts"] for m in structured(followed)["messages"]}
    assert more and not shown & more and max(map(float, more)) < min(map(float, shown))
    assert "as ts=?." in text(results["post"])  # an answer not shaped like a ts is not echoed
    for contents in directories:
        assert_neutralized(contents)
        assert len(text(contents)) <= BUDGET


def big_link() -> str:
    return "https://example.slack.com/archives/" + HOSTILE * 50
