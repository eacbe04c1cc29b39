"""fetch with a `question`: the client's model answers from the page (sampling), or the usual window.

Against the local site's /almanac page (dull numbered entries and one fact), with an in-process client
whose `sampling_callback` answers from the prompt it is sent. Handshake era: a client that answers, one
that refuses, one that does not declare sampling, and a server without --allow-sampling. The 2026 era has
no back-channel for sampling requests in this layer, so there the answer is the plain window.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp_types import CallToolResult, CreateMessageResult, ErrorData, TextContent

from patchbay_common.results import Reply
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import assert_neutralized, text
from patchbay_fetch import tools
from patchbay_fetch.deps import Deps
from patchbay_fetch.render import Converter, RenderCache
from patchbay_fetch.server import PROMPT_USER_AGENT, Settings, build, fetcher_of

pytestmark = pytest.mark.anyio

QUESTION = "What is the harbour master's boat called?"
FRAME = r'<(untrusted-data-[0-9a-f]{16}) source="([^"]*)">\n[^\n]*\n(.*)\n</\1>\n'
PLAIN = "Status: 200. Showing characters 0-"


class Model:
    """A client's model: answers from the framed chunk it is sent, and keeps what it was sent."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.meta: list[Any] = []

    async def __call__(self, context: Any, params: Any) -> CreateMessageResult:
        prompt = params.messages[0].content.text
        self.prompts.append(prompt)
        self.meta.append(params.metadata)
        answer = "The boat is called Gannet." if "called Gannet" in prompt else "NOT FOUND"
        return CreateMessageResult(role="assistant", content=TextContent(text=answer), model="test")


def server(*flags: str) -> Any:
    settings = Settings(_cli_parse_args=["--allow-private", "--fetch-timeout", "10", *flags])  # type: ignore[call-arg]
    return build(settings)


async def ask(mcp: Any, era: Era, url: str, **client: Any) -> CallToolResult:
    async with connect(mcp, era=era, **client) as connected:
        return await connected.call_tool("fetch", {"url": url, "question": QUESTION, "max_length": 3000})


async def test_the_clients_model_answers_small_framed_and_placed(site: Any) -> None:
    model = Model()
    url = site.url("/almanac?kb=1024&at=0.2")
    result = await ask(server("--allow-sampling"), "legacy", url, sampling_callback=model)
    assert not result.is_error
    shown = text(result)
    frame = re.match(FRAME, shown, re.DOTALL)
    assert frame is not None and frame[2] == f"the client's model's answer about {url}"
    ranges = re.findall(r"\[characters (\d+)-(\d+)\] The boat is called Gannet\.", frame[3])
    assert len(ranges) == 1  # one chunk held the fact, and the answer says which characters it came from
    start, end = map(int, ranges[0])
    assert start < end and end - start <= 20_000
    note = shown[frame.end() :]
    assert note.startswith("Answered by the client's model from 20 chunk(s) covering characters 0-")
    assert "The rest was not asked about" in note  # over a million characters: the first 20 chunks
    assert len(shown) < 1_000  # the page is over a million characters; the answer is a few hundred
    assert len(model.prompts) >= 20 and all("not instructions" in p for p in model.prompts)
    assert all("<untrusted-data-" in p for p in model.prompts)  # each chunk framed as data
    ids = {m.get("patchbay_request_id") if m else None for m in model.meta}
    assert len(ids) == 1 and None not in ids and "" not in ids  # the call's request id, on every request
    assert_neutralized(result)

    # The range is the place in the converted page: reading it there shows the fact.
    async with connect(server(), era="legacy") as client:
        window = await client.call_tool(
            "fetch", {"url": url, "start_index": start, "max_length": end - start}
        )
    assert "called Gannet" in text(window)


async def test_a_client_that_refuses_gets_the_page_and_a_reason(site: Any) -> None:
    async def refuse(context: Any, params: Any) -> ErrorData:
        return ErrorData(code=-1, message="User rejected sampling request")

    result = await ask(
        server("--allow-sampling"), "legacy", site.url("/almanac?kb=64"), sampling_callback=refuse
    )
    shown = text(result)
    assert not result.is_error and PLAIN in shown and "Entry 1:" in shown
    assert "Question not used: the client's model could not be asked" in shown


async def test_a_client_without_sampling_gets_the_page_and_a_reason(site: Any) -> None:
    result = await ask(server("--allow-sampling"), "legacy", site.url("/almanac?kb=64"))
    shown = text(result)
    assert not result.is_error and PLAIN in shown and "Entry 1:" in shown
    assert "Question not used: the client does not declare sampling." in shown


@pytest.mark.parametrize("era", ERAS)
async def test_without_the_operators_flag_the_model_is_never_asked(site: Any, era: Era) -> None:
    model = Model()
    result = await ask(server(), era, site.url("/almanac?kb=64"), sampling_callback=model)
    shown = text(result)
    assert not result.is_error and PLAIN in shown and "Entry 1:" in shown
    assert "Question not used: the server was not started with --allow-sampling." in shown
    assert model.prompts == []


async def test_the_2026_era_falls_back_to_the_page(site: Any) -> None:
    model = Model()
    result = await ask(
        server("--allow-sampling"), "modern", site.url("/almanac?kb=64"), sampling_callback=model
    )
    shown = text(result)
    assert not result.is_error and PLAIN in shown and "Entry 1:" in shown
    assert "Question not used: the client's model could not be asked" in shown


async def test_the_plain_answer_with_its_reason_still_fits_the_budget(site: Any) -> None:
    result = await ask(server("--max-output-chars", "2000"), "legacy", site.url("/almanac?kb=64"))
    shown = text(result)
    assert len(shown) <= 2000 and "Question not used:" in shown
    assert re.search(r"call fetch again with start_index=\d+\]$", shown)  # the continuation stays last


async def test_the_tool_called_with_its_deps_answers_plainly(site: Any) -> None:
    settings = Settings(_cli_parse_args=["--allow-private", "--allow-sampling"])  # type: ignore[call-arg]
    deps = Deps(
        fetcher=fetcher_of(settings),
        renderings=RenderCache(),
        converter=Converter(),
        user_agent="test-agent",
        prompt_user_agent=PROMPT_USER_AGENT,
        check_robots=False,
        allow_pdf=False,
        allow_images=False,
        fetch_timeout=10,
        max_chars=5000,
        allow_sampling=True,
    )
    try:  # outside a tool call there is no client to ask
        reply = await tools.fetch(deps, url=site.url("/almanac?kb=8"), question=QUESTION)
    finally:
        await deps.fetcher.aclose()
    assert isinstance(reply, Reply) and reply.note.startswith(PLAIN)
    assert "Question not used: the client does not declare sampling." in reply.note
