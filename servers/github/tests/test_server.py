"""The server end to end through an MCP client, in both protocol eras: toolsets, writes, accounts, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from gh_tokens import OTHER_TOKEN, TOKEN
from mcp import Client
from mcp_types import ElicitResult, ServerNotification, ToolListChangedNotification
from standin import StandIn

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import assert_neutralized, text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

OFFICIAL_READ = {
    "get_file_contents",
    "search_repositories",
    "list_commits",
    "list_issues",
    "get_issue",
    "search_code",
    "search_issues",
    "search_users",
    "get_pull_request",
    "list_pull_requests",
    "get_pull_request_files",
    "get_pull_request_status",
    "get_pull_request_comments",
    "get_pull_request_reviews",
}
OFFICIAL_WRITE = {
    "create_or_update_file",
    "push_files",
    "create_repository",
    "fork_repository",
    "create_branch",
    "create_issue",
    "update_issue",
    "add_issue_comment",
    "create_pull_request",
    "create_pull_request_review",
    "merge_pull_request",
    "update_pull_request_branch",
}
Make = Callable[..., Settings]


def payload(result: Any) -> Any:
    """The JSON a tool answered with, inside its untrusted-data frame if it has one."""
    body = text(result)
    if body.startswith("<untrusted-data-"):
        body = body.split("\n", 2)[2]
        body = body[: body.rindex("\n</untrusted-data-")]
    return json.loads(body)


@pytest.mark.parametrize("era", ERAS)
async def test_default_toolsets_are_read_only_and_cover_the_official_reads(
    make_settings: Make, era: str
) -> None:
    async with connect(build(make_settings()), era=era) as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= OFFICIAL_READ and not OFFICIAL_WRITE & set(tools)
    assert {"get_me", "get_rate_limit", "get_user"} <= set(tools) and "list_workflow_runs" not in tools
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True
        assert "account" not in tool.input_schema["properties"]  # one account: no account argument
        assert "title" not in json.dumps(tool.input_schema["properties"])


async def test_write_tools_only_with_allow_write_and_tool_filters(make_settings: Make) -> None:
    async with connect(
        build(make_settings("--allow-write", "--exclude-tools", "merge_pull_request"))
    ) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert OFFICIAL_WRITE - {"merge_pull_request"} <= names and "merge_pull_request" not in names
    assert tools["push_files"].annotations.destructive_hint is True
    async with connect(build(make_settings("--toolsets", "context", "--tools", "get_job_logs"))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"get_me", "get_rate_limit", "get_job_logs"}
    with pytest.raises(ValueError, match="unknown tool nope"):
        build(make_settings("--tools", "nope"))
    with pytest.raises(ValueError, match="unknown 'gists'"):
        build(make_settings("--toolsets", "gists"))


@pytest.mark.parametrize("era", ERAS)
async def test_a_read_tool_makes_one_call_and_wraps_the_answer(
    make_settings: Make, api: StandIn, era: str
) -> None:
    async with connect(build(make_settings()), era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "list_issues", {"owner": "octocat", "repo": "hello", "labels": ["bug", "ui"]}
        )
    assert not result.is_error
    assert text(result).startswith("<untrusted-data-")
    data = payload(result)
    assert data["issues"][0]["number"] == 1347 and "body" in data["issues"][0]
    assert api.calls() == [("GET", "/repos/octocat/hello/issues")]
    assert api.requests[0].query["labels"] == ["bug,ui"] and api.requests[0].query["per_page"] == ["20"]


async def test_errors_reach_the_model_with_a_next_step_and_no_token(
    make_settings: Make, api: StandIn
) -> None:
    api.override("GET", "/repos/octocat/hello/issues/7", status=404, body={"message": "Not Found"})
    api.override("GET", "/repos/octocat/hello/pulls/7", status=500, body={"message": f"boom {TOKEN}"})
    async with connect(build(make_settings("--max-rate-limit-wait", "0"))) as client:
        missing = await client.call_tool(
            "get_issue", {"owner": "octocat", "repo": "hello", "issue_number": 7}
        )
        bad = await client.call_tool("get_issue", {"owner": "../x", "repo": "hello", "issue_number": 7})
        leaky = await client.call_tool(
            "get_pull_request", {"owner": "octocat", "repo": "hello", "pull_number": 7}
        )
    assert missing.is_error and "GitHub found nothing at GET /repos/octocat/hello/issues/7" in text(missing)
    assert bad.is_error and "owner '../x' is not a GitHub login" in text(bad)
    assert leaky.is_error and TOKEN not in text(leaky)


async def test_no_token_still_lists_tools_and_says_what_to_set(
    make_settings: Make, api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_PERSONAL_ACCESS_TOKEN")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    async with connect(build(make_settings())) as client:
        assert len((await client.list_tools()).tools) > 10
        result = await client.call_tool("get_me", {})
    assert result.is_error and "No GitHub token is configured" in text(result)
    assert "GITHUB_PERSONAL_ACCESS_TOKEN" in text(result) and api.calls() == []


async def test_dynamic_toolsets_announce_list_changes(make_settings: Make, api: StandIn) -> None:
    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ServerNotification):
            seen.append(message)

    server = build(make_settings("--dynamic-toolsets"))
    async with Client(server, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.tools.list_changed is True
        assert {t.name for t in (await client.list_tools()).tools} == {"find_tools", "enable_toolset"}
        found = payload(await client.call_tool("find_tools", {"query": "workflow logs"}))
        assert [t["toolset"] for t in found["toolsets"]] == ["actions"]
        early = await client.call_tool("get_job_logs", {"owner": "o", "repo": "r", "job_id": 1})
        assert early.is_error and "enable_toolset with toolset='actions'" in text(early)
        enabled = payload(await client.call_tool("enable_toolset", {"toolset": "actions"}))
        assert "get_job_logs" in enabled["tools"]
        names = {t.name for t in (await client.list_tools()).tools}
        assert "list_workflow_runs" in names and "get_issue" not in names
    assert any(isinstance(n, ToolListChangedNotification) for n in seen)
    async with connect(server, era="modern") as client:  # another caller: it enables its own
        assert client.server_capabilities.tools.list_changed is True
        assert "list_workflow_runs" not in {t.name for t in (await client.list_tools()).tools}
        await client.call_tool("enable_toolset", {"toolset": "actions"})
    async with connect(server, era="modern") as client:  # every stateless client is the same one user
        assert "list_workflow_runs" in {t.name for t in (await client.list_tools()).tools}


async def test_dynamic_toolsets_are_per_client(make_settings: Make, api: StandIn) -> None:
    heard: dict[str, list[Any]] = {"a": [], "b": []}

    def listener(who: str) -> Any:
        async def on_message(message: Any) -> None:
            if isinstance(message, ServerNotification) and isinstance(message, ToolListChangedNotification):
                heard[who].append(message)

        return on_message

    server = build(make_settings("--dynamic-toolsets", "--allow-write"))
    async with (
        Client(server, mode="legacy", message_handler=listener("a")) as a,
        Client(server, mode="legacy", message_handler=listener("b")) as b,
    ):
        await a.call_tool("enable_toolset", {"toolset": "actions"})
        a_names = {t.name for t in (await a.list_tools()).tools}
        b_names = {t.name for t in (await b.list_tools()).tools}
        refused = await b.call_tool("list_workflow_runs", {"owner": "o", "repo": "r"})
        b_found = payload(await b.call_tool("find_tools", {"query": "workflow"}))
        await b.call_tool("enable_toolset", {"toolset": "issues"})
        a_after = {t.name for t in (await a.list_tools()).tools}
        b_after = {t.name for t in (await b.list_tools()).tools}
        a_found = payload(await a.call_tool("find_tools", {"query": "workflow"}))
    assert "list_workflow_runs" in a_names and "list_workflow_runs" not in b_names
    assert b_names == {"find_tools", "enable_toolset"}
    assert refused.is_error and "enable_toolset with toolset='actions'" in text(refused)
    assert b_found["toolsets"][0]["enabled"] is False and a_found["toolsets"][0]["enabled"] is True
    assert "create_issue" in b_after and "create_issue" not in a_after and "list_workflow_runs" not in b_after
    assert len(heard["a"]) == 1 and len(heard["b"]) == 1  # each heard only its own change
    assert ("GET", "/repos/o/r/actions/runs") not in api.calls()


async def test_static_server_does_not_claim_list_changes(make_settings: Make) -> None:
    async with connect(build(make_settings())) as client:
        assert not client.server_capabilities.tools.list_changed


async def test_two_accounts_route_by_owner(make_settings: Make, api: StandIn) -> None:
    flags = (
        "--account",
        "work=GH_WORK",
        "--account",
        "home=GH_HOME",
        "--route",
        "acme*=work",
        "--route",
        "me=home",
    )
    async with connect(build(make_settings(*flags))) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "get_issue")
        assert "account" in tool.input_schema["properties"]
        await client.call_tool("get_issue", {"owner": "acme-corp", "repo": "x", "issue_number": 1})
        await client.call_tool("get_issue", {"owner": "me", "repo": "x", "issue_number": 1})
        await client.call_tool(
            "get_issue", {"owner": "acme-corp", "repo": "x", "issue_number": 1, "account": "home"}
        )
        ambiguous = await client.call_tool("search_issues", {"query": "is:open"})
        me = payload(await client.call_tool("get_me", {"account": "home"}))
    tokens = [r.headers["authorization"] for r in api.requests]
    assert tokens == [
        f"token {TOKEN}",
        f"token {OTHER_TOKEN}",
        f"token {OTHER_TOKEN}",
        f"token {OTHER_TOKEN}",
    ]
    assert ambiguous.is_error and "Pass account= one of: work, home" in text(ambiguous)
    assert me["account"] == "home" and me["accounts"] == ["work", "home"]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_merge_asks_the_user_when_the_client_can(
    make_settings: Make, api: StandIn, answer: str, era: str
) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action=answer, content={"confirm": True} if answer == "accept" else None)

    server = build(make_settings("--allow-write"))
    async with connect(server, era=era, elicitation_callback=elicit) as client:  # type: ignore[arg-type]
        result = await client.call_tool("merge_pull_request", {"owner": "o", "repo": "r", "pull_number": 3})
    assert asked == ["Merge pull request #3 into o/r.\nGo ahead?"]
    if answer == "accept":
        assert not result.is_error and payload(result)["merged"] is True
        assert api.calls() == [("PUT", "/repos/o/r/pulls/3/merge")]
    else:
        assert result.is_error and "did not confirm" in text(result) and api.calls() == []


async def test_merge_without_elicitation_is_refused_unless_the_operator_allows_it(
    make_settings: Make, api: StandIn
) -> None:
    arguments = {"owner": "o", "repo": "r", "pull_number": 3, "merge_method": "squash"}
    async with connect(build(make_settings("--allow-write"))) as client:
        refused = await client.call_tool("merge_pull_request", arguments)
    assert refused.is_error and "cannot ask the user to confirm" in text(refused) and api.calls() == []
    async with connect(build(make_settings("--allow-write", "--allow-destructive"))) as client:
        result = await client.call_tool("merge_pull_request", arguments)
    assert not result.is_error and api.requests[0].body == {"merge_method": "squash"}


async def test_write_tool_sends_exactly_what_was_asked(make_settings: Make, api: StandIn) -> None:
    async with connect(build(make_settings("--allow-write"))) as client:
        result = await client.call_tool(
            "create_issue", {"owner": "o", "repo": "r", "title": "Bug", "labels": ["bug"]}
        )
        nothing = await client.call_tool("update_issue", {"owner": "o", "repo": "r", "issue_number": 1})
    assert payload(result)["number"] == 1347
    assert api.calls() == [("POST", "/repos/o/r/issues")] and api.requests[0].body == {
        "title": "Bug",
        "labels": ["bug"],
    }
    assert nothing.is_error and "Nothing to change" in text(nothing)


async def test_contents_resource_and_prompts(make_settings: Make, api: StandIn) -> None:
    import base64

    body = {
        "type": "file",
        "path": "docs/a.md",
        "sha": "s",
        "size": 5,
        "encoding": "base64",
        "content": base64.b64encode(b"hello").decode(),
    }
    api.override("GET", "/repos/o/r/contents/docs/a.md", body=body)
    async with connect(build(make_settings())) as client:
        read = await client.read_resource("github://o/r/contents/docs/a.md?ref=v2")
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        prompt = await client.get_prompt(
            "review_pull_request", {"owner": "o", "repo": "r", "pull_number": "5"}
        )
    assert_neutralized(read)
    assert read.contents[0].text.startswith("<untrusted-data-") and "\nhello\n" in text(read)
    assert api.requests[0].query == {"ref": ["v2"]}
    assert prompts == {"review_pull_request", "triage_issues"}
    assert "pull request #5 in o/r" in prompt.messages[0].content.text
