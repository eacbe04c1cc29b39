"""Answers GitHub should not give, given anyway: redirects, empty bodies, HTML pages, JSON of the wrong shape,
forged page tokens. Each ends as a clear isError text (never an internal error), the token stays on the
configured host, and a page token never sends the server to another path or host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import standin as standin_module
from gh_tokens import TOKEN
from standin import StandIn

from patchbay_common.limits import encode_cursor
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

Make = Callable[..., Settings]


@pytest.fixture
def elsewhere() -> Any:
    """A second stand-in, the target of redirects: it must never see a request."""
    with standin_module.running() as other:
        yield other


def _cases(other: StandIn) -> list[tuple[str, int, Any, dict[str, str], str]]:
    away = other.origin.replace("127.0.0.1", "localhost")
    return [
        ("302 elsewhere", 302, None, {"Location": f"{away}/x"}, "redirect (HTTP 302 to localhost)"),
        ("302 same host", 302, None, {"Location": "/api/v3/repositories/9"}, "redirect (HTTP 302"),
        ("307", 307, None, {"Location": f"{away}/x"}, "redirect (HTTP 307 to localhost)"),
        ("303 no location", 303, None, {}, "redirect (HTTP 303, no location)"),
        ("304", 304, None, {}, "redirect (HTTP 304"),
        ("204", 204, None, {}, "with no content where an object was expected"),
        ("200 list", 200, [1, 2], {}, "with a list where an object was expected"),
        ("200 number", 200, 7, {}, "with a int where an object was expected"),
        ("200 html", 200, "<html>Sign in</html>", {"Content-Type": "text/html"}, "not JSON (text/html)"),
        ("400 html", 400, "<html>Bad</html>", {"Content-Type": "text/html"}, "non-JSON answer (text/html)"),
        (
            "418 list message",
            418,
            {"message": ["a", "b"]},
            {},
            'GitHub answered 418 for GET /repos/o/r: ["a", "b"]',
        ),
        ("502 html", 502, "<html>Bad gateway</html>", {"Content-Type": "text/html"}, "GitHub answered 502"),
    ]


@pytest.mark.parametrize("era", ERAS)
async def test_unexpected_answers_become_clear_texts(
    make_settings: Make, api: StandIn, elsewhere: StandIn, era: str
) -> None:
    async with connect(build(make_settings("--max-rate-limit-wait", "0")), era=era) as client:
        for name, status, body, headers, expected in _cases(elsewhere):
            api.reset()
            api.override("GET", "/repos/o/r", status=status, body=body, headers=headers)
            result = await client.call_tool("get_repository", {"owner": "o", "repo": "r"})
            shown = text(result)
            assert result.is_error and expected in shown, (name, shown)
            assert "internal error" not in shown.lower() and "request id" not in shown.lower(), name
            assert TOKEN not in shown
            assert {path for _, path in api.calls()} == {"/repos/o/r"}, (name, api.calls())
    assert elsewhere.calls() == []  # no redirect was followed, so no token went there


async def test_wrong_shapes_inside_answers_and_listings(make_settings: Make, api: StandIn) -> None:
    settings = make_settings("--toolsets", "all", "--allow-write")
    async with connect(build(settings)) as client:
        api.override("GET", "/repos/o/r/issues", body=["not an issue"])
        listed = await client.call_tool("list_issues", {"owner": "o", "repo": "r"})
        assert listed.is_error and "a list of objects was expected" in text(listed)

        api.override("GET", "/repos/o/r/git/ref/heads/main", body={"object": "nope"})
        pushed = await client.call_tool(
            "push_files",
            {
                "owner": "o",
                "repo": "r",
                "branch": "main",
                "message": "m",
                "files": [{"path": "a", "content": "b"}],
            },
        )
        assert pushed.is_error and "GitHub's answer has no object.sha" in text(pushed)
        assert not [c for c in api.calls() if c[0] != "GET"]  # nothing was written

        api.override("GET", "/repos/o/r/pulls/1", body={"head": None, "number": 1})
        status = await client.call_tool(
            "get_pull_request_status", {"owner": "o", "repo": "r", "pull_number": 1}
        )
        assert status.is_error and "no head.sha" in text(status)

        odd = {"number": 5, "title": "t", "milestone": "v1", "labels": "bug", "user": ["x"], "assignees": 3}
        api.override("GET", "/repos/o/r/issues/5", body=odd)
        issue = await client.call_tool("get_issue", {"owner": "o", "repo": "r", "issue_number": 5})
        assert not issue.is_error and '"title":"t"' in text(issue)

        api.override("POST", "/repos/o/r/issues", status=204, body=None)
        created = await client.call_tool("create_issue", {"owner": "o", "repo": "r", "title": "t"})
        assert not created.is_error  # the write happened; GitHub just sent nothing back

        jobs = {"total_count": 2, "jobs": [{"id": "1/../../../../user", "conclusion": "failure"}]}
        api.override("GET", "/repos/o/r/actions/runs/3/jobs", body=jobs)
        logs = await client.call_tool("get_job_logs", {"owner": "o", "repo": "r", "run_id": 3})
        assert not logs.is_error and '"jobs":[]' in text(logs)
        assert not any("logs" in path or path == "/user" for _, path in api.calls())


async def test_forged_page_tokens_are_refused_and_never_change_host_or_path(
    make_settings: Make, api: StandIn
) -> None:
    server = build(make_settings())  # first: it binds tokens to this server's name
    path = "/repos/o/r/issues"
    good = {"state": "open", "per_page": "30", "page": "2"}
    cases = [
        ({"p": path, "q": {**good, "per_page": "100000"}}, "per_page"),
        ({"p": path, "q": {**good, "page": "0"}}, "page"),
        ({"p": path, "q": {**good, "page": "-3"}}, "page"),
        ({"p": path, "q": {**good, "page": "9" * 30}}, "page"),
        ({"p": path, "q": {**good, "access_token": "x"}}, "access_token"),
        ({"p": path, "q": {**good, "state": ["open"]}}, "not a plain text value"),
        ({"p": path, "q": {**good, "state": "open\r\nHost: evil"}}, "not a plain text value"),
        ({"p": path, "q": "page=2"}, "not a set of parameters"),
        ({"p": path, "q": good, "h": "https://evil.example"}, "fields this server does not make"),
        ({"p": "https://evil.example/repos/o/r/issues", "q": good}, "another listing"),
        ({"p": "/repos/o/other/issues", "q": good}, "another listing"),
        ({"p": "//evil.example/x", "q": good}, "another listing"),
    ]
    async with connect(server) as client:
        for state, expected in cases:
            token = encode_cursor(state)
            result = await client.call_tool("list_issues", {"owner": "o", "repo": "r", "page_token": token})
            assert result.is_error and expected in text(result), (state, text(result))
        assert api.calls() == [], api.calls()  # nothing was sent for any of them
        token = encode_cursor({"p": path, "q": good})
        fine = await client.call_tool("list_issues", {"owner": "o", "repo": "r", "page_token": token})
        assert not fine.is_error, text(fine)
        assert api.calls() == [("GET", path)] and api.requests[0].query["page"] == ["2"]
