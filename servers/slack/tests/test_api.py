"""SlackApi and Directory against the stand-in: pagination, errors, 429s, the name cache."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from patchbay_common.errors import AccessDenied, NotFound, UserError
from patchbay_slack.api import SlackApi
from patchbay_slack.directory import Directory

pytestmark = pytest.mark.anyio

BOT_TOKEN: str = sys.modules["patchbay_slack_tests_standin"].BOT_TOKEN


def api_for(standin: Any, token: str | None = BOT_TOKEN, **kw: Any) -> SlackApi:
    return SlackApi("acme", token, "ACME_TOKEN", base_url=standin.base_url, timeout=5, **kw)


async def test_cursor_pagination_walks_every_page(standin: Any) -> None:
    api = api_for(standin)
    names = [
        c["name"]
        async for c in api.pages(
            "conversations.list", "channels", limit=2, types="public_channel,private_channel"
        )
    ]
    assert names == ["general", "random", "secret-plans", "announcements", "old-project"]
    sent = standin.calls("conversations.list")
    assert len(sent) == 3
    assert "cursor" not in sent[0].params and sent[1].params["cursor"] and sent[2].params["cursor"]
    assert all(r.token == BOT_TOKEN for r in sent)
    capped = [u async for u in api.pages("users.list", "members", limit=2, max_items=3)]
    assert len(capped) == 3 and len(standin.calls("users.list")) == 2


@pytest.mark.parametrize(
    ("error", "extra", "kind", "expected"),
    [
        ("not_in_channel", {}, AccessDenied, "not a member of this channel"),
        ("channel_not_found", {}, NotFound, "slack_list_channels lists the channels"),
        ("invalid_auth", {}, AccessDenied, "valid token in ACME_TOKEN"),
        (
            "missing_scope",
            {"needed": "channels:history", "provided": "chat:write"},
            AccessDenied,
            "lacks the scope channels:history",
        ),
        ("something_new", {}, UserError, "conversations.history failed: something_new"),
    ],
)
async def test_ok_false_becomes_a_message_with_a_next_step(
    standin: Any, error: str, extra: dict[str, str], kind: type[UserError], expected: str
) -> None:
    standin.fail("conversations.history", error, **extra)
    with pytest.raises(kind) as caught:
        await api_for(standin).call("conversations.history", channel="C012AB3CD")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("Slack (acme) conversations.history")


async def test_a_wrong_token_is_invalid_auth(standin: Any) -> None:
    with pytest.raises(AccessDenied, match="invalid_auth"):
        await api_for(standin, token="xoxb-0000-wrong-token").call("auth.test")


async def test_no_token_says_how_to_configure_one(standin: Any) -> None:
    with pytest.raises(UserError, match="ACME_TOKEN") as caught:
        await api_for(standin, token=None).call("auth.test")
    assert "No Slack token is configured for workspace 'acme'" in str(caught.value)
    assert not standin.requests


async def test_429_with_retry_after_zero_is_retried(standin: Any) -> None:
    standin.rate_limit("conversations.history", retry_after=0, times=2)
    data = await api_for(standin).call("conversations.history", channel="C012AB3CD")
    assert data["ok"] and len(data["messages"]) == 4
    assert len(standin.calls("conversations.history")) == 3


async def test_writes_are_retried_after_429_too(standin: Any) -> None:
    standin.rate_limit("chat.postMessage", retry_after=0)
    data = await api_for(standin).call("chat.postMessage", write=True, channel="C012AB3CD", text="hi")
    assert data["ok"] and len(standin.calls("chat.postMessage")) == 2
    assert sum(m["text"] == "hi" for m in standin.messages["C012AB3CD"]) == 1


async def test_a_wait_longer_than_allowed_fails_at_once(standin: Any) -> None:
    standin.rate_limit("conversations.history", retry_after=120)
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        await api_for(standin, max_wait=5).call("conversations.history", channel="C012AB3CD")
    assert time.monotonic() - started < 2
    assert "rate limited by Slack; retry after 120 s" in str(caught.value)
    assert len(standin.calls("conversations.history")) == 1


async def test_unreachable_slack_is_a_clear_error() -> None:
    api = SlackApi("acme", BOT_TOKEN, "ACME_TOKEN", base_url="http://127.0.0.1:9/api/", timeout=2)
    with pytest.raises(UserError, match=r"Could not reach the Slack API at http://127\.0\.0\.1:9/api/"):
        await api.call("auth.test")


async def test_directory_warms_and_resolves_names(standin: Any) -> None:
    directory = Directory(api_for(standin))
    await directory.warm()
    assert len(directory.channels) == 5 and len(directory.users) == 7
    assert (await directory.channel("#General")).id == "C012AB3CD"
    assert (await directory.channel("G0PR1V4TE")).name == "secret-plans"
    assert (await directory.user("@spengler")).id == "W012A3CDE"
    assert (await directory.user("Glinda the Fairly Good")).id == "W07QCRPA4"
    assert (await directory.user("Ray Stantz")).id == "U061F7AUR"
    with pytest.raises(NotFound, match="No channel named #nope"):
        await directory.channel("nope")
    with pytest.raises(NotFound, match="No user named 'nobody'"):
        await directory.user("nobody")
    assert [u.name for u in directory.find_users("EN")] == ["spengler", "venkman"]
    calls = len(standin.requests)
    await directory.load_channels()
    assert len(standin.requests) == calls  # cached


async def test_unknown_ids_are_looked_up_one_by_one_before_warm_up(standin: Any) -> None:
    directory = Directory(api_for(standin))
    await directory.fill_users({"W012A3CDE", "U061F7AUR", "U0N0SUCH0"})
    assert directory.user_handle("W012A3CDE") == "spengler" and directory.user_handle("U061F7AUR") == "ray"
    assert directory.user_handle("U0N0SUCH0") is None
    assert len(standin.calls("users.info")) == 3 and not standin.calls("users.list")


async def test_a_failed_warm_up_is_logged_not_raised(standin: Any) -> None:
    standin.fail("conversations.list", "missing_scope", needed="channels:read")
    directory = Directory(api_for(standin))
    await directory.warm()
    assert directory.warm_error and "channels:read" in directory.warm_error
