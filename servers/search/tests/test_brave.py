"""BraveClient against the local stand-in of the Brave Search API: headers, errors, retries, limits, cache."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import patchbay_search_tests_standin as standin_module  # loaded by conftest.py
from patchbay_search.brave import BraveClient, BraveError, NotInPlan

pytestmark = pytest.mark.anyio

API_KEY = standin_module.TEST_KEY

WEB = [("q", "brave search api"), ("count", "5")]


@pytest.fixture
async def make_client(standin: Any) -> AsyncIterator[Callable[..., BraveClient]]:
    made: list[BraveClient] = []

    def make(**options: Any) -> BraveClient:
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", standin.base_url)
        options.setdefault("rate_limit", 100)  # fast tests; the limiter's own tests pass None (auto)
        client = BraveClient(**options)
        client.open()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_request_shape(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    data = await make_client().get("web", WEB)
    assert data["query"]["original"] == "brave search api"
    assert len(data["web"]["results"]) == 5
    (sent,) = standin.requests
    assert sent.path == "/res/v1/web/search"
    assert sent.params == {"q": ["brave search api"], "count": ["5"]}
    assert sent.headers["x-subscription-token"] == API_KEY
    assert sent.headers["accept"] == "application/json"
    assert "gzip" in sent.headers["accept-encoding"]
    assert sent.headers["user-agent"] == "patchbay-search"


async def test_no_key_sends_nothing(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    with pytest.raises(BraveError) as caught:
        await make_client(api_key=None).get("web", WEB)
    assert "No Brave Search API key is configured" in str(caught.value)
    assert "BRAVE_API_KEY" in str(caught.value)
    assert standin.requests == []


async def test_rejected_key(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    with pytest.raises(BraveError) as caught:
        await make_client(api_key="BSA-wrong-key-9876543210").get("web", WEB)
    text = str(caught.value)
    assert "rejected the configured API key (SUBSCRIPTION_TOKEN_INVALID" in text
    assert "BRAVE_API_KEY" in text and "wrong-key" not in text
    assert len(standin.requests) == 1  # a 422 is not retried


async def test_validation_error_names_the_parameter(
    standin: Any, make_client: Callable[..., BraveClient]
) -> None:
    with pytest.raises(BraveError) as caught:
        await make_client().get("web", [("q", "x"), ("count", "50")])
    assert "rejected the request parameters (count: Input should be <= 20)" in str(caught.value)


async def test_plan_without_local_search(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.queue("/res/v1/local/pois", 400, "error_option_not_in_plan.json")
    with pytest.raises(NotInPlan) as caught:
        await make_client().get("pois", [("ids", "x")])
    assert "plan of this API key does not include this search (OPTION_NOT_IN_PLAN" in str(caught.value)


async def test_429_is_retried_after_the_reset_the_api_names(
    standin: Any, make_client: Callable[..., BraveClient]
) -> None:
    # The operator set a rate above the plan's (1/s): the API refuses the second request within the second.
    standin.per_second = 1
    client = make_client(rate_limit=100)
    await client.get("web", WEB)
    await client.get("web", [("q", "another query")])
    statuses = [r.path for r in standin.requests]
    assert len(statuses) == 3  # ok, 429, ok after waiting X-RateLimit-Reset
    gap = standin.requests[2].at - standin.requests[1].at
    assert gap >= 0.9


async def test_retry_after_header_wins(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.queue(
        "/res/v1/news/search", 429, "error_rate_limited.json", headers={"Retry-After": "0"}, times=2
    )
    data = await make_client(rate_limit=100).get("news", [("q", "brave")])
    assert data["type"] == "news"
    assert len(standin.requests) == 3


async def test_429_that_never_ends(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.queue("/res/v1/web/search", 429, "error_rate_limited.json", headers={"Retry-After": "0"}, times=5)
    with pytest.raises(BraveError) as caught:
        await make_client(rate_limit=100, attempts=3).get("web", WEB)
    assert "kept answering 429 (rate limited) after 3 tries" in str(caught.value)
    assert len(standin.requests) == 3


async def test_monthly_quota_used_up(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.monthly_limit = 100
    standin.monthly_used = 100
    client = make_client()
    for _ in range(2):
        with pytest.raises(BraveError) as caught:
            await client.get("web", WEB)
        assert "quota of this key is used up for this month (resets in 15 days)" in str(caught.value)
    assert len(standin.requests) == 1  # the second call was refused without asking the API


async def test_last_request_of_the_month_closes_the_gate(
    standin: Any, make_client: Callable[..., BraveClient]
) -> None:
    standin.monthly_limit = 1
    client = make_client()
    await client.get("web", WEB)  # answered with X-RateLimit-Remaining: ..., 0
    with pytest.raises(BraveError, match="quota of this key is used up"):
        await client.get("web", [("q", "other")])
    assert len(standin.requests) == 1


async def test_server_errors_are_retried_then_reported(
    standin: Any, make_client: Callable[..., BraveClient]
) -> None:
    standin.queue("/res/v1/videos/search", 503, {"error": {"detail": "upstream down"}}, times=1)
    assert (await make_client(rate_limit=100).get("videos", [("q", "x")]))["type"] == "videos"
    standin.queue("/res/v1/videos/search", 500, {"error": {"detail": "boom"}}, times=3)
    with pytest.raises(BraveError) as caught:
        await make_client(rate_limit=100, attempts=3).get("videos", [("q", "y")])
    assert "failed with HTTP 500 (boom)" in str(caught.value)


async def test_timeout(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.queue("/res/v1/web/search", 200, {}, delay=0.6, times=2)
    with pytest.raises(BraveError) as caught:
        await make_client(timeout=0.2, attempts=2, rate_limit=100).get("web", WEB)
    assert "did not answer within 0.2 s" in str(caught.value)


async def test_unreachable_api(make_client: Callable[..., BraveClient]) -> None:
    from patchbay_common.testing.components import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BraveError) as caught:
        await make_client(base_url=url, attempts=2, rate_limit=100).get("web", WEB)
    assert f"Could not reach the Brave Search API at {url}" in str(caught.value)


async def test_not_json(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    standin.queue("/res/v1/web/search", 200, b"<html>a captive portal</html>")
    with pytest.raises(BraveError, match="something other than a JSON object"):
        await make_client().get("web", WEB)


async def test_identical_requests_are_cached(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    client = make_client()
    first = await client.get("web", WEB)
    second = await client.get("web", WEB)
    assert first == second and len(standin.requests) == 1
    await client.get("web", [*WEB, ("offset", "1")])
    assert len(standin.requests) == 2
    uncached = make_client(cache_ttl=0)
    await uncached.get("web", WEB)
    await uncached.get("web", WEB)
    assert len(standin.requests) == 4


async def test_errors_are_not_cached(standin: Any, make_client: Callable[..., BraveClient]) -> None:
    client = make_client()
    standin.queue("/res/v1/web/search", 400, "error_option_not_in_plan.json")
    with pytest.raises(NotInPlan):
        await client.get("web", WEB)
    assert (await client.get("web", WEB))["type"] == "search"


async def test_limiter_learns_the_plan_and_keeps_to_it(
    standin: Any, make_client: Callable[..., BraveClient]
) -> None:
    standin.per_second = 4
    client = make_client(rate_limit=None)
    for i in range(4):
        await client.get("web", [("q", f"query {i}")])
    assert client.limiter.rate == 4  # learned from X-RateLimit-Policy after the first answer
    times = [r.at for r in standin.requests]
    assert len(times) == 4  # no 429, so no retries
    assert all(b - a >= 0.24 for a, b in itertools.pairwise(times))


def test_fixtures_are_the_documented_shapes() -> None:
    web = standin_module.load_fixture("web_search.json")
    assert web["type"] == "search" and web["web"]["type"] == "search"
    assert standin_module.load_fixture("local_pois.json")["type"] == "local_pois"
    assert standin_module.load_fixture("local_descriptions.json")["type"] == "local_descriptions"
    assert standin_module.load_fixture("error_rate_limited.json")["error"]["code"] == "RATE_LIMITED"
