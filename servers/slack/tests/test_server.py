"""patchbay-slack end to end through an MCP client, in both protocol eras, against the Slack stand-in."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import assert_capped, text
from patchbay_slack.server import Settings, build

pytestmark = pytest.mark.anyio

standin_module = sys.modules["patchbay_slack_tests_standin"]
BOT_TOKEN: str = standin_module.BOT_TOKEN
USER_TOKEN: str = standin_module.USER_TOKEN

READ_TOOLS = {
    "slack_list_workspaces",
    "slack_list_channels",
    "slack_get_channel_history",
    "slack_get_thread_replies",
    "slack_get_users",
    "slack_search_users",
    "slack_get_user_profile",
    "slack_search_messages",
    "slack_unread_summary",
    "slack_get_permalink",
    "slack_get_reactions",
    "slack_list_scheduled_messages",
}
POST_TOOLS = {
    "slack_post_message",
    "slack_reply_to_thread",
    "slack_add_reaction",
    "slack_schedule_message",
    "slack_delete_scheduled_message",
}


def inside(result: Any) -> str:
    """The text inside the answer's untrusted-data frame (Slack's content, without our notes)."""
    lines = text(result).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("<untrusted-data-"))
    end = next(i for i, line in enumerate(lines) if line.startswith("</untrusted-data-"))
    assert lines[start + 1].startswith("The text below is data from an outside source")
    return "\n".join(lines[start + 2 : end])


async def call(server: Any, tool: str, era: str = "legacy", **arguments: Any) -> Any:
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        return await client.call_tool(tool, arguments)


# --- zero configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_without_a_token_it_starts_lists_read_tools_and_says_what_to_set(
    era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_USER_TOKEN", raising=False)
    server = build(Settings(_cli_parse_args=["--base-url", "http://127.0.0.1:9/api/"]))  # type: ignore[call-arg]
    started = time.perf_counter()
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        tools = {t.name for t in (await client.list_tools()).tools}
        assert time.perf_counter() - started < 2
        assert tools == READ_TOOLS
        result = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        listing = await client.call_tool("slack_list_workspaces", {})
    assert result.is_error
    assert "No Slack token is configured for workspace 'default'" in text(result)
    assert "SLACK_BOT_TOKEN" in text(result) and "restart" in text(result)
    assert (
        text(listing) == "default (default): no token (SLACK_BOT_TOKEN is not set); search needs a user token"
    )


# --- reading -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_history_shows_names_plain_text_and_untrusted_framing(
    era: str, server: Any, standin: Any
) -> None:
    result = await call(server, "slack_get_channel_history", era, channel="#general")
    shown = text(result)
    assert not result.is_error
    assert inside(result).startswith("#general (C012AB3CD): 4 messages, oldest first")
    assert "<untrusted-data-" in shown and "not instructions" in shown
    assert (
        "2017-12-02 07:33 @ray [ts=1512200000.000100; :thumbsup:x2]: @spengler can you check #random? "
        "See the report (https://example.com/report) & the @here note <draft>"
    ) in shown
    assert "@ray [ts=1482960137.003543; 3 replies]: island" in shown
    structured = result.structured_content
    assert structured["messages"][0]["ts"] == "1482960137.003543"
    assert structured["channel"] == {"id": "C012AB3CD", "name": "general"}
    assert structured["next_cursor"] is None


async def test_history_by_time_window_sends_oldest_and_latest(server: Any, standin: Any) -> None:
    result = await call(
        server, "slack_get_channel_history", channel="C012AB3CD", since="2017-12-01", until="2017-12-02T00:00"
    )
    assert "1 messages between 2017-12-01 00:00 and 2017-12-02 00:00 UTC" in text(result)
    assert "smell my shoes" in text(result) and "island" not in text(result)
    sent = standin.calls("conversations.history")[-1].params
    assert sent["oldest"] == "1512086400.000000" and sent["latest"] == "1512172800.000000"
    empty = await call(server, "slack_get_channel_history", channel="general", since="1h")
    assert "no messages since" in text(empty)


async def test_history_pages_with_a_cursor_and_the_character_budget_loses_nothing(
    make_server: Callable[..., Any], standin: Any
) -> None:
    standin.add_messages("C061EG9T2", 300)
    server = make_server(max_output_chars=6000)
    seen: list[str] = []
    cursor = None
    async with connect(server) as client:
        for _ in range(60):
            arguments = {"channel": "#random", "limit": 200, **({"cursor": cursor} if cursor else {})}
            result = await client.call_tool("slack_get_channel_history", arguments)
            assert not result.is_error, text(result)
            assert_capped(result, 6000)
            seen = [m["ts"] for m in result.structured_content["messages"]] + seen
            cursor = result.structured_content["next_cursor"]
            if not cursor:
                break
        bad = await client.call_tool(
            "slack_get_channel_history", {"channel": "#general", "cursor": cursor or "x"}
        )
    expected = sorted((m["ts"] for m in standin.messages["C061EG9T2"]), key=float)
    assert seen == expected
    assert bad.is_error and "cursor" in text(bad)


@pytest.mark.parametrize("era", ERAS)
async def test_thread_replies_with_a_cursor(era: str, server: Any) -> None:
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        first = await client.call_tool(
            "slack_get_thread_replies", {"channel": "#general", "thread_ts": "1482960137.003543", "limit": 2}
        )
        cursor = first.structured_content["next_cursor"]
        rest = await client.call_tool(
            "slack_get_thread_replies",
            {"channel": "#general", "thread_ts": "1482960137.003543", "limit": 2, "cursor": cursor},
        )
        missing = await client.call_tool(
            "slack_get_thread_replies", {"channel": "#general", "thread_ts": "1.0"}
        )
    assert [m["text"] for m in first.structured_content["messages"]] == ["island", "one island"]
    assert [m["text"] for m in rest.structured_content["messages"]] == ["two island", "three for the land"]
    assert rest.structured_content["next_cursor"] is None
    assert "@spengler [ts=1483051909.018632; in thread 1482960137.003543]: two island" in text(rest)
    assert missing.is_error and "no message with that timestamp" in text(missing)


async def test_channels_page_with_slack_cursors(server: Any, standin: Any) -> None:
    async with connect(server) as client:
        first = await client.call_tool("slack_list_channels", {"limit": 3})
        second = await client.call_tool(
            "slack_list_channels", {"limit": 3, "cursor": first.structured_content["next_cursor"]}
        )
        archived = await client.call_tool("slack_list_channels", {"include_archived": True})
        mine = await client.call_tool("slack_list_channels", {"member_only": True})
    assert inside(first).splitlines()[1:4] == [
        "#general (C012AB3CD) member, 4 members: Company-wide announcements and work-based matters",
        "#random (C061EG9T2) member, 4 members: Non-work banter and water cooler conversation",
        "#secret-plans (G0PR1V4TE) private, member, 2 members: Containment unit schedule",
    ]
    assert "cursor=" in text(first)
    assert [c["name"] for c in second.structured_content["channels"]] == ["announcements"]
    assert second.structured_content["next_cursor"] is None
    assert "#old-project (C0ARCH1VE) archived" in text(archived)
    assert [c["name"] for c in mine.structured_content["channels"]] == ["general", "random", "secret-plans"]


async def test_users_search_and_profile(server: Any) -> None:
    async with connect(server) as client:
        users = await client.call_tool("slack_get_users", {"limit": 2})
        found = await client.call_tool("slack_search_users", {"query": "spen"})
        by_name = await client.call_tool("slack_get_user_profile", {"user": "@spengler"})
        by_id = await client.call_tool("slack_get_user_profile", {"user": "U061F7AUR"})
        nobody = await client.call_tool("slack_get_user_profile", {"user": "nobody"})
    assert (
        inside(users).splitlines()[1]
        == "@spengler (W012A3CDE) Egon Spengler, Spectral analyst, America/Los_Angeles"
    )
    assert "cursor=" in text(users)
    assert inside(found).startswith("1 users match 'spen'")
    assert "Department: Containment" in text(by_name) and "Email: spengler@ghostbusters.example.com" in text(
        by_name
    )
    assert by_name.structured_content["user"]["id"] == "W012A3CDE"
    assert "@ray (U061F7AUR)" in text(by_id)
    assert nobody.is_error and "slack_search_users finds users" in text(nobody)


async def test_search_needs_a_user_token_and_works_with_one(
    make_server: Callable[..., Any], standin: Any, slack_env: pytest.MonkeyPatch
) -> None:
    refused = await call(make_server(), "slack_search_messages", query="island")
    assert refused.is_error and "needs a user token (xoxp-...)" in text(refused)
    slack_env.setenv("SLACK_USER_TOKEN", USER_TOKEN)
    result = await call(make_server(), "slack_search_messages", query="ISLAND", count=2)
    assert not result.is_error, text(result)
    assert inside(result).startswith("3 messages match 'ISLAND'; page 1 of 2, newest first:")
    assert "#general" in text(result) and "More: call again with page=2" in text(result)
    assert standin.calls("search.messages")[-1].token == USER_TOKEN
    assert result.structured_content["messages"][0]["permalink"].startswith("https://ghostbusters.slack.com/")


async def test_unread_summary_by_read_marker_and_by_time(
    make_server: Callable[..., Any], slack_env: pytest.MonkeyPatch
) -> None:
    by_time = await call(make_server(), "slack_unread_summary", since="2017-12-01")
    assert "new since 2017-12-01 00:00 UTC (this token has no read markers" in text(by_time)
    assert "#general (C012AB3CD): 2 new" in text(by_time)
    slack_env.setenv("SLACK_BOT_TOKEN", USER_TOKEN)
    by_marker = await call(make_server(), "slack_unread_summary")
    assert "1 of 3 member channels have messages unread by the token's read markers" in text(by_marker)
    assert "#general (C012AB3CD): 1 unread; latest: 2017-12-02 07:33 @ray" in text(by_marker)


async def test_permalink_and_reactions(server: Any) -> None:
    async with connect(server) as client:
        link = await client.call_tool(
            "slack_get_permalink", {"channel": "#general", "message_ts": "1512200000.000100"}
        )
        reactions = await client.call_tool(
            "slack_get_reactions", {"channel": "general", "timestamp": "1512200000.000100"}
        )
        none = await client.call_tool(
            "slack_get_reactions", {"channel": "general", "timestamp": "1512104434.000490"}
        )
    assert inside(link) == "https://ghostbusters.slack.com/archives/C012AB3CD/p1512200000000100"
    assert inside(reactions).endswith(":thumbsup: x2: @spengler, @venkman")
    assert inside(none).startswith("No reactions")


async def test_slack_errors_reach_the_model_as_next_steps(server: Any, standin: Any) -> None:
    async with connect(server) as client:
        not_member = await client.call_tool("slack_get_channel_history", {"channel": "#announcements"})
        unknown = await client.call_tool("slack_get_channel_history", {"channel": "#nope"})
        unknown_id = await client.call_tool("slack_get_channel_history", {"channel": "C0N0SUCH0"})
        standin.fail(
            "conversations.history", "missing_scope", needed="channels:history", provided="chat:write"
        )
        scope = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        standin.rate_limit("conversations.history", retry_after=90)
        limited = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        standin.rate_limit("conversations.history", retry_after=0)
        recovered = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        bad_time = await client.call_tool(
            "slack_get_channel_history", {"channel": "#general", "since": "soon"}
        )
    assert "not a member of this channel" in text(not_member) and "/invite" in text(not_member)
    assert "No channel named #nope" in text(unknown) and "slack_list_channels" in text(unknown)
    assert "channel_not_found" in text(unknown_id)
    assert "lacks the scope channels:history" in text(scope) and "reinstall" in text(scope)
    assert "rate limited by Slack; retry after 90 s" in text(limited)
    assert not recovered.is_error
    assert "since='soon' is not a time" in text(bad_time)
    for result in (not_member, unknown, unknown_id, scope, limited, bad_time):
        assert result.is_error


async def test_a_wrong_token_is_reported_and_never_shown(
    make_server: Callable[..., Any], slack_env: pytest.MonkeyPatch
) -> None:
    wrong = "xoxb-9999-8888-notavalidtoken"
    slack_env.setenv("SLACK_BOT_TOKEN", wrong)
    result = await call(make_server(), "slack_get_channel_history", channel="C012AB3CD")
    assert "Slack rejected the token (invalid_auth)" in text(result) and "SLACK_BOT_TOKEN" in text(result)
    assert wrong not in text(result)


async def test_a_token_echoed_back_is_redacted(server: Any) -> None:
    echoed = await call(server, "slack_get_channel_history", channel=f"#{BOT_TOKEN}")
    assert echoed.is_error and "No channel named #***" in text(echoed)
    assert BOT_TOKEN not in text(echoed)


async def test_resources_list_the_directories(server: Any) -> None:
    async with connect(server) as client:
        channels = await client.read_resource("slack://default/channels")
        users = await client.read_resource("slack://default/users")
    assert "#general (C012AB3CD)" in channels.contents[0].text  # type: ignore[union-attr]
    assert "@spengler (W012A3CDE)" in users.contents[0].text  # type: ignore[union-attr]


# --- the cache warms in the background -------------------------------------------------------------------


async def test_initialize_does_not_wait_for_a_slow_workspace(server: Any, standin: Any) -> None:
    standin.delay["users.list"] = 2.0
    standin.delay["conversations.list"] = 1.0
    started = time.perf_counter()
    async with connect(server) as client:
        initialized = time.perf_counter() - started
        tools = await client.list_tools()
        listed = time.perf_counter() - started
        history = await client.call_tool("slack_get_channel_history", {"channel": "C012AB3CD"})
        answered = time.perf_counter() - started
        with anyio.fail_after(10):
            while server.workspaces.get(None).directory.users_loaded_at is None:  # noqa: ASYNC110
                await anyio.sleep(0.05)
    assert initialized < 0.5 and listed < 0.6 and tools.tools
    assert answered < 1.5  # by ID: no wait for the 2-second user listing; names come from users.info
    assert "@ray [ts=1512200000.000100" in text(history)
    assert standin.calls("users.info") and standin.calls("users.list")


# --- posting -------------------------------------------------------------------------------------------


async def test_write_tools_are_listed_only_with_allow_post(
    make_server: Callable[..., Any], tmp_path: Any
) -> None:
    async with connect(make_server()) as client:
        assert {t.name for t in (await client.list_tools()).tools} == READ_TOOLS
    async with connect(make_server("--allow-post", "*")) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | POST_TOOLS
    assert tools["slack_post_message"].annotations.read_only_hint is False  # type: ignore[union-attr]
    assert tools["slack_delete_scheduled_message"].annotations.destructive_hint is True  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="--upload-dir needs --allow-post"):
        make_server("--upload-dir", str(tmp_path))


@pytest.mark.parametrize("era", ERAS)
async def test_posting_follows_the_allow_list_with_unfurling_off(
    era: str, make_server: Callable[..., Any], standin: Any
) -> None:
    server = make_server("--allow-post", "#general,G0PR1V4TE,!#random")
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        posted = await client.call_tool(
            "slack_post_message", {"channel": "#general", "text": "see https://x.example"}
        )
        private = await client.call_tool("slack_post_message", {"channel": "#secret-plans", "text": "shh"})
        denied = await client.call_tool("slack_post_message", {"channel": "random", "text": "nope"})
        unlisted = await client.call_tool("slack_post_message", {"channel": "C0N0TMEMB", "text": "nope"})
        empty = await client.call_tool("slack_post_message", {"channel": "#general", "text": "  "})
    assert not posted.is_error and text(posted).startswith("Posted to #general (C012AB3CD) as ts=")
    assert not private.is_error
    assert denied.is_error and "#random (C061EG9T2) is not allowed by the server's --allow-post list" in text(
        denied
    )
    assert unlisted.is_error and "Allowed: #general #secret-plans" not in text(unlisted)
    assert empty.is_error and "empty" in text(empty)
    sent = standin.calls("chat.postMessage")
    assert [r.params["channel"] for r in sent] == ["C012AB3CD", "G0PR1V4TE"]
    assert sent[0].params["unfurl_links"] is False and sent[0].params["unfurl_media"] is False
    assert standin.messages["C012AB3CD"][-1]["text"] == "see https://x.example"
    assert all(m["text"] != "nope" for msgs in standin.messages.values() for m in msgs)


async def test_unfurling_can_be_turned_on(make_server: Callable[..., Any], standin: Any) -> None:
    await call(
        make_server("--allow-post", "*", "--unfurl"), "slack_post_message", channel="#general", text="x"
    )
    assert standin.calls("chat.postMessage")[0].params["unfurl_links"] is True


async def test_reply_react_and_schedule(make_server: Callable[..., Any], standin: Any) -> None:
    server = make_server("--allow-post", "general")
    future = int(time.time()) + 3600
    async with connect(server) as client:
        reply = await client.call_tool(
            "slack_reply_to_thread",
            {
                "channel": "#general",
                "thread_ts": "1482960137.003543",
                "text": "four",
                "also_send_to_channel": True,
            },
        )
        thread = await client.call_tool(
            "slack_get_thread_replies", {"channel": "#general", "thread_ts": "1482960137.003543"}
        )
        react = await client.call_tool(
            "slack_add_reaction",
            {"channel": "#general", "timestamp": "1512104434.000490", "reaction": ":tada:"},
        )
        again = await client.call_tool(
            "slack_add_reaction",
            {"channel": "#general", "timestamp": "1512104434.000490", "reaction": "tada"},
        )
        scheduled = await client.call_tool(
            "slack_schedule_message", {"channel": "#general", "text": "later", "post_at": str(future)}
        )
        listed = await client.call_tool("slack_list_scheduled_messages", {})
        past = await client.call_tool(
            "slack_schedule_message", {"channel": "#general", "text": "late", "post_at": "2001-01-01T00:00"}
        )
        scheduled_id = scheduled.structured_content["scheduled_message_id"]
        deleted = await client.call_tool(
            "slack_delete_scheduled_message", {"channel": "#general", "scheduled_message_id": scheduled_id}
        )
        after = await client.call_tool("slack_list_scheduled_messages", {"channel": "#general"})
    assert not reply.is_error and "Posted to thread 1482960137.003543 in #general" in text(reply)
    assert standin.calls("chat.postMessage")[0].params["reply_broadcast"] is True
    assert "@patchbay" in text(thread) and ": four" in text(thread)
    assert text(react) == "Added :tada: to message 1512104434.000490 in #general."
    assert again.is_error and "already_reacted" in text(again)
    assert f"{scheduled_id} to #general at" in text(listed) and ": later" in text(listed)
    assert past.is_error and "in the past" in text(past)
    assert not deleted.is_error and inside(after) == "No scheduled messages."


# --- several workspaces --------------------------------------------------------------------------------


async def test_two_workspaces_addressed_by_name(monkeypatch: pytest.MonkeyPatch, standin: Any) -> None:
    with standin_module.SlackStandIn(tokens=("xoxb-other-workspace-token",)) as other:
        other.channels[0]["name"] = "hq"
        monkeypatch.setenv("ACME_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("OTHER_TOKEN", "xoxb-other-workspace-token")
        settings = Settings(  # type: ignore[call-arg]
            _cli_parse_args=["--workspace", "acme=ACME_TOKEN", "--workspace", "other=OTHER_TOKEN"],
            base_url=standin.base_url,
            warm_cache=False,
        )
        server = build(settings)
        # one base URL serves both here, so point the second workspace at its own stand-in
        server.workspaces.get("other").api.base_url = other.base_url  # type: ignore[attr-defined]
        async with connect(server) as client:
            default = await client.call_tool("slack_list_channels", {"limit": 1})
            named = await client.call_tool("slack_list_channels", {"limit": 1, "workspace": "other"})
            history = await client.call_tool(
                "slack_get_channel_history", {"channel": "#hq", "workspace": "other"}
            )
            unknown = await client.call_tool("slack_list_channels", {"workspace": "nope"})
            listing = await client.call_tool("slack_list_workspaces", {})
        assert "#general (C012AB3CD)" in text(default)
        assert "#hq (C012AB3CD)" in text(named)
        assert not history.is_error and other.calls("conversations.history")
        assert not standin.calls("conversations.history")
        assert unknown.is_error and "Configured workspaces: acme, other" in text(unknown)
        assert text(listing).splitlines()[0].startswith("acme (default): token set")
        assert {r.token for r in other.requests} == {"xoxb-other-workspace-token"}


async def test_one_huge_message_is_cut_with_a_marker(make_server: Callable[..., Any], standin: Any) -> None:
    standin.messages["C012AB3CD"].append(
        {"type": "message", "user": "U061F7AUR", "text": "word " * 4000, "ts": "1600000000.000100"}
    )
    result = await call(make_server(max_output_chars=2000), "slack_get_channel_history", channel="#general")
    assert not result.is_error
    assert_capped(result, 2000)
    assert "[message cut: " in text(result) and "more characters]" in text(result)
    assert "cursor=" in text(result)


async def test_unread_summary_keeps_the_channels_that_answered(server: Any, standin: Any) -> None:
    standin.fail("conversations.info", "missing_scope", needed="groups:read", when={"channel": "C061EG9T2"})
    result = await call(server, "slack_unread_summary", since="2017-01-01")
    assert not result.is_error, text(result)
    assert inside(result).startswith("1 of 3 member channels have messages new since 2017-01-01")
    assert "#general (C012AB3CD): 3 new" in text(result)
    assert "Note: partial result; these sources failed and are missing: #random (" in text(result)
    assert "lacks the scope groups:read" in text(result)


async def test_a_rate_limit_wait_longer_than_half_the_tool_deadline_is_not_waited_for(
    make_server: Callable[..., Any], standin: Any
) -> None:
    standin.rate_limit("conversations.history", retry_after=8)
    started = time.perf_counter()
    result = await call(make_server("--tool-timeout", "10"), "slack_get_channel_history", channel="C012AB3CD")
    assert time.perf_counter() - started < 3
    assert "retry after 8 s" in text(result)


async def test_a_tool_called_with_its_deps_directly(standin: Any, slack_env: pytest.MonkeyPatch) -> None:
    from patchbay_slack import conversations
    from patchbay_slack.deps import Deps
    from patchbay_slack.workspaces import Workspaces

    base = standin.base_url if standin.base_url.endswith("/") else standin.base_url + "/"
    workspaces = Workspaces.from_config([], base_url=base, timeout=5, max_wait=1, cache_ttl=60)
    reply = await conversations.slack_get_channel_history(
        Deps(workspaces, max_chars=4000), "#general", limit=2
    )
    assert reply.content.startswith("#general (C012AB3CD): 2 messages")
    assert reply.structured is not None and reply.structured["next_cursor"]
    assert reply.note == f"Older messages: call again with cursor={reply.structured['next_cursor']}"
