"""Progress while job logs download, a cancelled call that stops the download, and completions.

All against the GitHub stand-in: the log is a slow stream whose chunks are counted as the stand-in sends
them, so a test sees the download stop; completions are checked for the requests they make.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from gh_tokens import TOKEN
from mcp_types import PromptReference, ResourceTemplateReference
from standin import StandIn, Stream

from patchbay_common.testing.clients import ERAS, Era, Launch, connect, http_server
from patchbay_github.server import Settings, build

pytestmark = pytest.mark.anyio

Make = Callable[..., Settings]
LOG = "/_blob/repos/o/r/actions/jobs/5/logs"
TEMPLATE = ResourceTemplateReference(
    type="ref/resource", uri="github://{owner}/{repo}/contents/{+path}{?ref}"
)
KIB_64 = b"2024-01-01T00:00:00Z a line of build output, 64 bytes long.....\n" * 1024


def slow_log(sent: list[int], chunks: int) -> Stream:
    """A log of `chunks` blocks of 64 KiB, one every 20 ms; `sent[0]` counts the blocks handed over."""

    def make() -> Iterator[bytes]:
        for _ in range(chunks):
            sent[0] += 1
            yield KIB_64

    return Stream(make, delay=0.02)


@pytest.mark.parametrize("era", ERAS)
async def test_progress_counts_the_kib_of_the_job_logs(make_settings: Make, api: StandIn, era: Era) -> None:
    sent = [0]
    api.override("GET", LOG, body=slow_log(sent, 60))
    seen: list[tuple[float, float | None, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message or ""))

    async with connect(build(make_settings("--toolsets", "actions")), era=era) as client:
        result = await client.call_tool(
            "get_job_logs", {"owner": "o", "repo": "r", "job_id": 5}, progress_callback=on_progress
        )
    assert not result.is_error
    during = [p for p, _, m in seen if m.startswith("downloading the log of job 5 (1 of 1): ")]
    assert len(during) >= 3, seen  # over a second of download, four notifications a second at most
    assert during == sorted(during) and 0 < during[-1] <= 3840
    assert seen[-1][0] == 3840  # the last step (a closing message at the same value is not sent again)


async def cancel_after_first_kib(target: Any, api: StandIn, era: Era) -> None:
    """Call get_job_logs on an endless slow log, cancel once some KiB arrived; the stand-in stops sending."""
    sent = [0]
    api.override("GET", LOG, body=slow_log(sent, 100_000))
    some = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if progress > 0:
            some.set()

    async with connect(target, era=era) as client:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                arguments = {"owner": "o", "repo": "r", "job_id": 5}
                await client.call_tool("get_job_logs", arguments, progress_callback=on_progress)

            group.start_soon(call)
            with anyio.fail_after(10):
                await some.wait()
            group.cancel_scope.cancel()
        await anyio.sleep(0.5)  # the connection closes; at most a block or two already buffered go out
        stopped_at = sent[0]
        await anyio.sleep(0.5)
        assert sent[0] == stopped_at, (stopped_at, sent[0])  # the stand-in sends nothing more
    assert stopped_at < 200  # far from the end: the download did not run on (about 50 blocks a second)


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_stops_the_log_download(make_settings: Make, api: StandIn, era: Era) -> None:
    settings = make_settings("--toolsets", "actions", "--request-timeout", "30", "--tool-timeout", "60")
    await cancel_after_first_kib(build(settings), api, era)


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_over_streamable_http_stops_the_log_download(api: StandIn, era: Era) -> None:
    env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN, "PATCHBAY_GITHUB_API_URL": api.base_url}
    launch = Launch("patchbay-github", ["--toolsets", "actions", "--request-timeout", "30"], env)
    with http_server(launch, "streamable-http") as server:
        await cancel_after_first_kib(server, api, era)


async def values(client: Any, reference: Any, name: str, value: str = "", **chosen: str) -> list[str]:
    answer = await client.complete(reference, {"name": name, "value": value}, chosen or None)
    return list(answer.completion.values)


@pytest.mark.parametrize("era", ERAS)
async def test_completions_for_the_template_and_the_prompts(
    make_settings: Make, api: StandIn, era: Era
) -> None:
    api.override(
        "GET",
        "/repos/octocat/Hello-World/contents/src",
        body=[{"name": "app.py", "type": "file"}, {"name": "lib", "type": "dir"}],
    )
    repo = {"name": "Hello-World", "owner": {"login": "octocat"}}
    other = {"name": "hello-other", "owner": {"login": "someone"}}
    api.override("GET", "/user/orgs", body=[{"login": "github"}])
    api.override("GET", "/user/repos", body=[repo, other])
    api.override("GET", "/users/octocat/repos", body=[repo])
    api.override("GET", "/repos/octocat/Hello-World/labels", body=[{"name": "bug"}, {"name": "docs"}])
    review = PromptReference(type="ref/prompt", name="review_pull_request")
    triage = PromptReference(type="ref/prompt", name="triage_issues")
    async with connect(build(make_settings()), era=era) as client:
        assert client.server_capabilities.completions is not None
        owners = await values(client, TEMPLATE, "owner")
        repos = await values(client, TEMPLATE, "repo", "hel", owner="octocat")
        refs = await values(client, TEMPLATE, "ref", owner="octocat", repo="Hello-World")
        paths = await values(
            client, TEMPLATE, "path", "src/", owner="octocat", repo="Hello-World", ref="master"
        )
        prompt_owner = await values(client, review, "owner", "oct")
        pulls = await values(client, review, "pull_number", owner="octocat", repo="Hello-World")
        labels = await values(client, triage, "label", "b", owner="octocat", repo="Hello-World")
        calls = len(api.calls())
        started = time.perf_counter()
        again = await values(client, TEMPLATE, "repo", "hel", owner="octocat")
        warm = time.perf_counter() - started
        bad = await values(client, TEMPLATE, "repo", owner="../etc")
        assert len(api.calls()) == calls  # the warm answer and the refused owner asked GitHub nothing
    assert owners == ["octocat", "github"]
    assert repos == again == ["Hello-World"] and warm < 0.05, warm
    assert refs == ["master"]
    assert paths == ["src/app.py", "src/lib/"]
    assert ("GET", "/repos/octocat/Hello-World/contents/src") in api.calls()
    assert prompt_owner == ["octocat"] and pulls == ["1347"] and labels == ["bug"]
    assert bad == []


async def test_owners_are_offered_only_to_the_account_the_routes_pick(
    make_settings: Make, api: StandIn
) -> None:
    settings = make_settings(
        "--account", "work=GH_WORK", "--account", "home=GH_HOME", "--route", "octocat=work",
        "--route", "side-project=home", "--route", "acme-*=home",
    )  # fmt: skip
    api.override("GET", "/user/orgs", body=[{"login": "github"}])
    async with connect(build(settings)) as client:
        owners = await values(client, TEMPLATE, "owner")
        unrouted = await values(client, TEMPLATE, "repo", owner="github")
    # Both tokens see octocat and the github org in the stand-in: octocat is routed to work, so only work
    # offers it; github matches no route (several accounts, no default), so nobody offers it.
    assert owners == ["octocat", "side-project"]
    assert unrouted == [] and ("GET", "/users/github/repos") not in api.calls()
