"""The projects toolset end to end, both eras, against GitHub's GraphQL schema run by the stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from standin import StandIn

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import HOSTILE, assert_neutralized, text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

Make = Callable[..., Settings]
ORG = {"owner": "octo-org"}


def payload(result: Any) -> Any:
    assert not result.is_error, text(result)
    body = text(result)
    return json.loads(body[body.index("{") : body.rindex("}") + 1])


@pytest.mark.parametrize("era", ERAS)
async def test_projects_fields_and_items_page(era: str, make_settings: Make, api: StandIn) -> None:
    server = build(make_settings("--toolsets", "projects"))
    async with connect(server, era=era) as client:
        listed = payload(await client.call_tool("list_projects", ORG))
        matching = payload(await client.call_tool("list_projects", {**ORG, "query": "back"}))
        project = payload(await client.call_tool("get_project", {**ORG, "project_number": 1}))
        first = payload(
            await client.call_tool("list_project_items", {**ORG, "project_number": 1, "per_page": 2})
        )
        rest = payload(
            await client.call_tool(
                "list_project_items",
                {**ORG, "project_number": 1, "per_page": 10, "page_token": first["next_page_token"]},
            )
        )
        other = await client.call_tool(
            "list_project_items", {**ORG, "project_number": 2, "page_token": first["next_page_token"]}
        )
        as_user = payload(await client.call_tool("list_projects", {"owner": "octocat", "owner_type": "user"}))
        wrong_kind = await client.call_tool("list_projects", {"owner": "octocat"})
        missing = await client.call_tool("get_project", {**ORG, "project_number": 9})
    assert [p["title"] for p in listed["projects"]] == ["Roadmap", "Backlog"] and listed["projects"][0][
        "items"
    ] == 5
    assert [p["number"] for p in matching["projects"]] == [2]
    assert project["readme"] == "Read me."
    assert project["fields"][0] == {
        "id": "PVTSSF_1",
        "name": "Status",
        "type": "SINGLE_SELECT",
        "options": ["Todo", "Done"],
    }
    assert first["items"][0] == {
        "id": "PVTI_1",
        "type": "ISSUE",
        "repository": "octo-org/app",
        "number": 1,
        "title": "Issue 1",
        "state": "OPEN",
        "url": "https://github.com/octo-org/app/issues/1",
        "fields": {"Status": "Todo", "Notes": "note 1"},
    }
    assert first["items"][1]["type"] == "DRAFT_ISSUE" and first["items"][1]["title"] == "Draft 2"
    assert [i["id"] for i in rest["items"]] == [
        "PVTI_3",
        "PVTI_4",
        "PVTI_5",
    ] and "next_page_token" not in rest
    assert other.is_error and "another listing" in text(other)
    assert as_user["projects"] == []
    assert wrong_kind.is_error and "Could not resolve to an Organization" in text(wrong_kind)
    assert missing.is_error and "Could not resolve to a ProjectV2" in text(missing)


async def test_hostile_titles_and_readmes_are_framed_and_cut(make_settings: Make, api: StandIn) -> None:
    roadmap = api.graphql_data.owners["octo-org"]["projects"][0]
    roadmap["readme"] = HOSTILE * 400
    roadmap["title"] = HOSTILE
    roadmap["_items"][0]["content"]["title"] = HOSTILE
    server = build(make_settings("--toolsets", "projects", "--max-output-chars", "4000"))
    async with connect(server) as client:
        for name, args in (
            ("list_projects", ORG),
            ("get_project", {**ORG, "project_number": 1}),
            ("list_project_items", {**ORG, "project_number": 1}),
        ):
            result = await client.call_tool(name, args)
            assert not result.is_error, text(result)
            assert_neutralized(result)
            assert len(text(result)) <= 4000 + 600
