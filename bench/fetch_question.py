"""fetch with a `question` (sampling) against the plain answer: what reaches the caller's context.

The fetch tests' local site serves /almanac, about 4 MiB of HTML (numbered entries that answer nothing and
one fact); an in-process MCP client (handshake era) declares sampling and its "model" answers from the
framed chunk it is sent (a string test, no real model: this measures sizes, not answer quality). Printed:
the body, the converted page, one plain fetch call at the default and at the largest window, the
sampled answer, and what was sent to the client's model.

    uv run python bench/fetch_question.py [--kb 4096]
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import anyio
from _harness import ROOT, table
from mcp_types import CreateMessageResult, TextContent

from patchbay_common.testing.clients import connect
from patchbay_common.testing.modules import import_file
from patchbay_common.testing.results import text
from patchbay_fetch.server import Settings, build

QUESTION = "What is the harbour master's boat called?"


class Model:
    """Answers from the prompt it is sent; counts requests and characters."""

    def __init__(self) -> None:
        self.requests = 0
        self.sent = 0

    async def __call__(self, context: Any, params: Any) -> CreateMessageResult:
        prompt = params.messages[0].content.text
        self.requests += 1
        self.sent += len(prompt) + len(params.system_prompt or "")
        answer = "The boat is called Gannet." if "called Gannet" in prompt else "NOT FOUND"
        return CreateMessageResult(role="assistant", content=TextContent(text=answer), model="bench")


async def run(kib: int) -> None:
    standin = import_file(ROOT / "servers/fetch/tests/standin.py", "fetch_standin")
    site = standin.start_site()
    try:
        settings = Settings(_cli_parse_args=["--allow-private", "--allow-sampling"])  # type: ignore[call-arg]
        rows = []
        for at in (0.05, 0.5):
            url = site.url(f"/almanac?kb={kib}&at={at}")
            body = len(standin.almanac(kib, at))
            model = Model()
            async with connect(build(settings), era="legacy", sampling_callback=model) as client:
                plain = text(await client.call_tool("fetch", {"url": url}))
                widest = text(await client.call_tool("fetch", {"url": url, "max_length": 1_000_000}))
                began = time.perf_counter()
                answer = text(await client.call_tool("fetch", {"url": url, "question": QUESTION}))
                seconds = time.perf_counter() - began
            total = int(re.search(r"Showing characters \d+-\d+ of (\d+)", plain)[1])  # type: ignore[index]
            found = "Gannet" in answer.split("</untrusted-data-")[0]
            rows.append(
                [
                    f"fact at {at:.0%}",
                    f"{body:,}",
                    f"{total:,}",
                    f"{len(plain):,}",
                    f"{len(widest):,}",
                    f"{len(answer):,}",
                    f"{total / len(answer):,.0f}x",
                    "yes" if found else "no (beyond the chunks asked)",
                    model.requests,
                    f"{model.sent:,}",
                    f"{seconds * 1000:,.0f} ms",
                ]
            )
        print(f"\nanswer with a question, last page: {answer}")
        table(
            f"fetch with a question over a {kib} KiB page (characters)",
            [
                "case",
                "body bytes",
                "converted page",
                "plain call (5000)",
                "plain call (widest)",
                "answer",
                "page/answer",
                "found",
                "samplings",
                "sent to model",
                "time",
            ],
            rows,
        )
    finally:
        site.server.shutdown()
        site.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=4096, help="page size in KiB")
    anyio.run(run, parser.parse_args().kb)


if __name__ == "__main__":
    main()
