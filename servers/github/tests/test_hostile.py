"""Every tool that returns GitHub content, fed hostile and oversized answers: framed, sanitized, capped.

The stand-in's documented example of every operation is poisoned for the test: each string the server may
pass on becomes the `HOSTILE` payload repeated past the budget, and each list is stretched, so that every
field a tool returns carries the payload. The answers must come back framed, sanitized and capped. A
second test pages through an oversized listing and checks that its tokens skip and repeat nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from standin import StandIn

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import HOSTILE, assert_capped, assert_neutralized, text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

BUDGET = 3_000
BIG = HOSTILE * 25  # about 3,200 characters: past the budget on its own
KEEP = {"sha", "type", "encoding", "state", "conclusion", "status", "author_association", "merged", "private"}
R = {"owner": "o", "repo": "r"}

READS: list[tuple[str, dict[str, Any]]] = [
    ("get_me", {}),
    ("get_repository", R),
    ("get_file_contents", {**R, "path": "docs/a.md"}),
    ("get_file_contents", {**R, "path": "docs"}),
    ("search_repositories", {"query": "x"}),
    ("search_code", {"query": "x"}),
    ("list_branches", R),
    ("list_commits", R),
    ("get_commit", {**R, "sha": "abc"}),
    ("get_issue", {**R, "issue_number": 1}),
    ("list_issues", R),
    ("get_issue_comments", {**R, "issue_number": 1}),
    ("search_issues", {"query": "x"}),
    ("get_pull_request", {**R, "pull_number": 1}),
    ("list_pull_requests", R),
    ("get_pull_request_files", {**R, "pull_number": 1, "with_patch": True}),
    ("get_pull_request_status", {**R, "pull_number": 1}),
    ("get_pull_request_comments", {**R, "pull_number": 1}),
    ("get_pull_request_reviews", {**R, "pull_number": 1}),
    ("search_users", {"query": "x"}),
    ("get_user", {"username": "someone"}),
    ("list_workflow_runs", R),
    ("get_workflow_run", {**R, "run_id": 1}),
    ("list_workflow_jobs", {**R, "run_id": 1}),
    ("get_job_logs", {**R, "job_id": 1}),
    ("list_releases", R),
    ("get_release", {**R, "tag": "v1"}),
    ("list_notifications", {}),
    ("list_code_scanning_alerts", R),
    ("get_code_scanning_alert", {**R, "alert_number": 1}),
    ("list_dependabot_alerts", R),
    ("get_dependabot_alert", {**R, "alert_number": 1}),
]
WRITES: list[tuple[str, dict[str, Any]]] = [
    ("create_or_update_file", {**R, "path": "a.md", "content": "x", "message": "m", "branch": "main"}),
    ("push_files", {**R, "branch": "main", "files": [{"path": "a", "content": "b"}], "message": "m"}),
    ("create_repository", {"name": "n"}),
    ("fork_repository", R),
    ("create_branch", {**R, "branch": "b", "from_branch": "main"}),
    ("create_issue", {**R, "title": "t"}),
    ("update_issue", {**R, "issue_number": 1, "title": "t"}),
    ("add_issue_comment", {**R, "issue_number": 1, "body": "b"}),
    ("create_pull_request", {**R, "title": "t", "head": "h", "base": "main"}),
    ("create_pull_request_review", {**R, "pull_number": 1, "event": "COMMENT"}),
    ("merge_pull_request", {**R, "pull_number": 1}),
    ("update_pull_request_branch", {**R, "pull_number": 1}),
]


def poison(value: Any, key: str = "") -> Any:
    """`value` with every string the server may show replaced by `BIG` and every list stretched."""
    if isinstance(value, dict):
        return {k: v if k in KEEP else poison(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [poison(v, key) for v in value] or ([BIG] if key in ("labels", "topics") else [])
        return (items * 10)[:10] if items else items
    if isinstance(value, str):
        return BIG
    return value


@pytest.fixture
def poisoned(api: StandIn) -> Iterator[StandIn]:
    """The stand-in answering every documented operation with a poisoned example."""
    saved = [(route, route.body) for route in api.routes]
    for route in api.routes:
        route.body = poison(route.body)
    file = {
        "type": "file",
        "path": BIG,
        "sha": BIG,
        "size": 5,
        "encoding": "base64",
        "content": base64.b64encode((BIG * 5).encode()).decode(),
    }
    api.override("GET", "/repos/o/r/contents/docs/a.md", body=file)
    api.override("GET", "/repos/o/r/contents/docs", body=[{"name": BIG, "type": "file", "size": 1}] * 30)
    api.override("GET", "/_blob/repos/o/r/actions/jobs/1/logs", body=(BIG + "\n") * 20)
    try:
        yield api
    finally:
        for route, body in saved:
            route.body = body


def settings_with(make_settings: Callable[..., Settings], *flags: str) -> Settings:
    return make_settings("--toolsets", "all", "--max-output-chars", str(BUDGET), *flags)


@pytest.mark.parametrize("era", ERAS)
async def test_every_tool_frames_sanitizes_and_caps_hostile_answers(
    make_settings: Callable[..., Settings], poisoned: StandIn, era: str
) -> None:
    server = build(settings_with(make_settings, "--allow-write", "--allow-destructive"))
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        listed = {t.name for t in (await client.list_tools()).tools}
        assert {name for name, _ in READS + WRITES} <= listed
        for name, arguments in READS + WRITES:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, text(result)[:500])
            if (name, arguments) in READS:  # the payload did reach the answer
                assert "Ignore previous instructions" in text(result), name
            assert_neutralized(result)
            assert_capped(result, BUDGET)
        resource = await client.read_resource("github://o/r/contents/docs/a.md")
    assert_neutralized(resource)
    assert len(text(resource)) <= BUDGET and "Ignore previous instructions" in text(resource)


def issue(number: int) -> dict[str, Any]:
    return {"number": number, "title": f"issue {number}", "state": "open", "body": "lorem ipsum " * 60}


@pytest.mark.parametrize("era", ERAS)
async def test_an_oversized_page_is_cut_between_items_and_its_token_resumes_exactly(
    make_settings: Callable[..., Settings], api: StandIn, era: str
) -> None:
    path = "/repos/o/r/issues"
    link = f'<{api.base_url}{path}?per_page=20&page=2>; rel="next"'
    api.override("GET", path, body=[issue(n) for n in range(1, 21)], headers={"Link": link})
    api.override("GET", path, body=[issue(n) for n in range(21, 41)], query={"page": "2"})  # checked first
    seen: list[int] = []
    async with connect(build(settings_with(make_settings)), era=era) as client:  # type: ignore[arg-type]
        arguments: dict[str, Any] = {**R}
        for _ in range(60):
            result = await client.call_tool("list_issues", arguments)
            assert not result.is_error, text(result)
            assert_neutralized(result)
            assert_capped(result, BUDGET)
            body = text(result).split("\n", 2)[2]
            data = json.loads(body[: body.rindex("\n</untrusted-data-")])
            seen.extend(item["number"] for item in data["issues"])
            if "next_page_token" not in data:
                break
            arguments = {**R, "page_token": data["next_page_token"]}
        with_other_repo = await client.call_tool(
            "list_issues", {"owner": "o", "repo": "other", "page_token": arguments["page_token"]}
        )
    assert seen == list(range(1, 41))
    assert with_other_repo.is_error and "another listing" in text(with_other_repo)
