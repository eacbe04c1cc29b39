"""Progress and client log messages while a search waits (rate-limit slot, retry); none for a quick one."""

from __future__ import annotations

from typing import Any

import pytest

import patchbay_search_tests_standin as standin_module  # loaded by conftest.py
from patchbay_common.testing.clients import ERAS, Launch, connect

pytestmark = pytest.mark.anyio

API_KEY = standin_module.TEST_KEY


class Seen:
    """Progress notifications and log messages a client received."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.logs: list[str] = []

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def on_log(self, params: Any) -> None:
        self.logs.append(params.data["message"])


@pytest.mark.parametrize("era", ERAS)
async def test_a_search_waiting_for_its_rate_limit_slot_reports_it(standin: Any, era: str) -> None:
    launch = Launch(
        "patchbay-search", ["--base-url", standin.base_url, "--rate-limit", "0.4"], {"BRAVE_API_KEY": API_KEY}
    )
    seen, quick = Seen(), Seen()
    extra = {"log_level": "info"} if era == "modern" else {}
    async with connect(launch, era=era, logging_callback=seen.on_log, **extra) as client:  # type: ignore[arg-type]
        first = await client.call_tool(
            "brave_web_search", {"query": "one"}, progress_callback=quick.on_progress
        )
        second = await client.call_tool(
            "brave_web_search", {"query": "two"}, progress_callback=seen.on_progress
        )
    assert not first.is_error and not second.is_error
    assert quick.progress == []  # a search that did not wait sends no progress
    assert seen.progress, "no progress while waiting for the slot"
    assert "for a slot under the rate limit" in (seen.progress[0][2] or "")
    assert seen.progress[-1] == (3, 3, "Brave web search: answered: 3 of 3 attempts")
    assert any("for a slot under the rate limit (0.4 per second)" in m for m in seen.logs)


@pytest.mark.parametrize("era", ERAS)
async def test_a_retry_after_a_429_reports_progress(standin: Any, make_server: Any, era: str) -> None:
    standin.queue("/res/v1/news/search", 429, "error_rate_limited.json", headers={"Retry-After": "1"})
    seen = Seen()
    async with connect(make_server(), era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "brave_news_search", {"query": "x"}, progress_callback=seen.on_progress
        )
    assert not result.is_error
    values = [p for p, _, _ in seen.progress]
    assert values == sorted(values) and values[0] == 1 and values[-1] == 3
    assert "attempt 1 failed (The Brave Search API kept answering 429" in (seen.progress[0][2] or "")
