"""The discussions toolset end to end, both eras, against GitHub's GraphQL schema run by the stand-in.

The stand-in executes GitHub's published schema (graphql_standin.py), so every query the server sends is
validated as GitHub's endpoint would: a misspelt field or argument fails these tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from standin import GRAPHQL, StandIn

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import HOSTILE, assert_neutralized, text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

R = {"owner": "octocat", "repo": "Hello-World"}
Make = Callable[..., Settings]


def payload(result: Any) -> Any:
    assert not result.is_error, text(result)
    body = text(result)
    return json.loads(body[body.index("{") : body.rindex("}") + 1])


def graphql_calls(api: StandIn) -> list[dict[str, Any]]:
    return [r.body for r in api.requests if r.method == "POST" and r.path == GRAPHQL]


@pytest.mark.parametrize("era", ERAS)
async def test_list_page_read_comments_and_categories(era: str, make_settings: Make, api: StandIn) -> None:
    server = build(make_settings("--toolsets", "discussions"))
    async with connect(server, era=era) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        first = payload(await client.call_tool("list_discussions", {**R, "per_page": 3}))
        second = payload(
            await client.call_tool(
                "list_discussions", {**R, "per_page": 3, "page_token": first["next_page_token"]}
            )
        )
        wrong_listing = await client.call_tool(
            "get_discussion_comments",
            {**R, "discussion_number": 1, "page_token": first["next_page_token"]},
        )
        forged = await client.call_tool("list_discussions", {**R, "page_token": "Y3Vyc29yOnYyOjM="})
        one = payload(await client.call_tool("get_discussion", {**R, "discussion_number": 1}))
        comments = payload(
            await client.call_tool("get_discussion_comments", {**R, "discussion_number": 1, "per_page": 2})
        )
        categories = payload(await client.call_tool("list_discussion_categories", R))
        qa = categories["categories"][0]["id"]
        in_qa = payload(await client.call_tool("list_discussions", {**R, "category_id": qa}))
        missing = await client.call_tool("get_discussion", {**R, "discussion_number": 99})
    assert {
        "list_discussions",
        "get_discussion",
        "get_discussion_comments",
        "list_discussion_categories",
    } <= names
    assert [d["number"] for d in first["discussions"]] == [1, 2, 3] and first["total_count"] == 7
    assert [d["number"] for d in second["discussions"]] == [4, 5, 6]
    assert "body" not in first["discussions"][0] and first["discussions"][0]["category"] == "Q&A"
    assert wrong_listing.is_error and "another listing" in text(wrong_listing)
    assert forged.is_error and "cursor is not valid" in text(forged)
    assert one["body"] == "Question 1 body." and one["answered"] is True and one["author"] == "octocat"
    assert [c["body"] for c in comments["comments"]] == ["Answer 0 to 1.", "Answer 1 to 1."]
    assert comments["comments"][0]["answer"] is True and "next_page_token" in comments
    assert [c["name"] for c in categories["categories"]] == ["Q&A", "General"]
    assert {d["number"] for d in in_qa["discussions"]} == {1, 3, 5, 7}
    assert missing.is_error and "Could not resolve to a Discussion with the number of 99" in text(missing)
    sent = graphql_calls(api)
    assert all("rateLimit" in body["query"] for body in sent)
    assert sent[1]["variables"]["after"] and sent[1]["variables"]["first"] == 3
    assert len(sent) == 7  # the refused page tokens sent nothing


async def test_hostile_and_oversized_bodies_are_framed_sanitized_and_cut(
    make_settings: Make, api: StandIn
) -> None:
    discussion = api.graphql_data.discussions["octocat/Hello-World"][0]
    discussion["body"] = HOSTILE * 400
    discussion["title"] = HOSTILE
    discussion["_comments"][0]["body"] = HOSTILE
    server = build(make_settings("--toolsets", "discussions", "--max-output-chars", "4000"))
    async with connect(server) as client:
        for name, args in (
            ("get_discussion", {**R, "discussion_number": 1}),
            ("list_discussions", R),
            ("get_discussion_comments", {**R, "discussion_number": 1}),
        ):
            result = await client.call_tool(name, args)
            assert not result.is_error, text(result)
            assert_neutralized(result)
            assert len(text(result)) <= 4000 + 600
        body = text(await client.call_tool("get_discussion", {**R, "discussion_number": 1}))
    assert "[cut at" in body or "truncated" in body.lower()


async def test_rate_limits_and_refusals_say_what_to_do(make_settings: Make, api: StandIn) -> None:
    server = build(make_settings("--toolsets", "discussions"))
    limited = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}
    async with connect(server) as client:
        api.override("POST", GRAPHQL, body=limited, headers={"x-ratelimit-remaining": "0"}, times=1)
        rate = await client.call_tool("list_discussion_categories", R)
        api.override(
            "POST",
            GRAPHQL,
            status=403,
            headers={"Retry-After": "1"},
            body={"message": "You have exceeded a secondary rate limit."},
            times=1,
        )
        waited = await client.call_tool("list_discussion_categories", R)
        api.override(
            "POST",
            GRAPHQL,
            status=403,
            headers={"Retry-After": "600"},
            body={"message": "You have exceeded a secondary rate limit."},
            times=1,
        )
        too_long = await client.call_tool("list_discussion_categories", R)
        nope = await client.call_tool("list_discussions", {"owner": "octocat", "repo": "Nope"})
    assert rate.is_error and "GraphQL rate limit" in text(rate) and "Try again in" in text(rate)
    assert not waited.is_error and "Q&A" in text(waited)
    assert too_long.is_error and "rate limit" in text(too_long).lower() and "600" in text(too_long)
    assert nope.is_error and "Could not resolve to a Repository" in text(nope)
