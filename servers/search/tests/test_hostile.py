"""Every tool against an API that puts a hostile payload in every field it returns, and far too much of it.

The payload (`HOSTILE`: an instruction, forged frame boundaries, invisible and bidi characters) goes into
every string of the stand-in's answer that a tool can show: titles, URLs, snippets, ages, sites, image and
thumbnail URLs, video details, place ids, names, addresses, phones, hours, categories, descriptions, Brave's
rewritten query, and the error detail of a failed part of a local search. Each answer must keep the payload
inside its frame (text) or neutralized (structured form), and fit a small budget, text and structured form
together, in both protocol eras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import (
    HOSTILE,
    INVISIBLE_SAMPLES,
    assert_capped,
    assert_neutralized,
    structured,
    text,
)

pytestmark = pytest.mark.anyio

BUDGET = 3000
MANY = 40
LONG = (HOSTILE + " ") * 40  # longer than any field Brave would send; snippets are cut at 600 characters


def _url(i: int, size: int = 0) -> str:
    return f"https://h{i}.example/{HOSTILE}/" + "x" * size


def _meta(i: int) -> dict[str, Any]:
    return {"hostname": f"h{i}.example{HOSTILE}", "path": HOSTILE}


def _query() -> dict[str, Any]:
    return {"original": HOSTILE, "altered": HOSTILE, "more_results_available": True}


def web_answer(count: int = MANY, giant: bool = False) -> dict[str, Any]:
    results = [
        {
            "title": LONG,
            "url": _url(i, 100_000 if giant and i == 0 else 0),
            "description": LONG,
            "age": HOSTILE,
            "meta_url": _meta(i),
        }
        for i in range(count)
    ]
    return {"type": "search", "query": _query(), "web": {"type": "search", "results": results}}


def news_answer() -> dict[str, Any]:
    results = [
        {
            "title": LONG,
            "url": _url(i),
            "description": LONG,
            "age": HOSTILE,
            "breaking": True,
            "meta_url": _meta(i),
        }
        for i in range(MANY)
    ]
    return {"type": "news", "query": _query(), "results": results}


def image_answer() -> dict[str, Any]:
    results = [
        {
            "title": LONG,
            "url": _url(i),
            "source": HOSTILE,
            "thumbnail": {"src": _url(i) + "thumb"},
            "properties": {"url": _url(i) + "image", "width": 10, "height": 10},
            "meta_url": _meta(i),
        }
        for i in range(MANY)
    ]
    return {"type": "images", "query": _query(), "results": results}


def video_answer() -> dict[str, Any]:
    video = {"duration": HOSTILE, "views": 5, "creator": LONG, "publisher": LONG}
    results = [
        {
            "title": LONG,
            "url": _url(i),
            "description": LONG,
            "age": HOSTILE,
            "video": video,
            "meta_url": _meta(i),
        }
        for i in range(MANY)
    ]
    return {"type": "videos", "query": _query(), "results": results}


def _place(i: int) -> dict[str, Any]:
    return {
        "id": f"id{i}{HOSTILE}",
        "title": LONG,
        "url": _url(i),
        "coordinates": [1.0, 2.0],
        "postal_address": {"displayAddress": LONG},
        "contact": {"telephone": HOSTILE},
        "rating": {"ratingValue": 4.5, "reviewCount": 3},
        "price_range": HOSTILE,
        "opening_hours": {"days": [[{"abbr_name": HOSTILE, "opens": HOSTILE, "closes": HOSTILE}]]},
        "distance": {"value": 1, "units": HOSTILE},
        "categories": [HOSTILE, LONG],
    }


def locations_answer() -> dict[str, Any]:
    places = [_place(i) for i in range(20)]
    return {"type": "search", "query": _query(), "locations": {"type": "locations", "results": places}}


def pois_answer() -> dict[str, Any]:
    return {"type": "local_pois", "results": [_place(i) for i in range(20)]}


def descriptions_answer() -> dict[str, Any]:
    return {"results": [{"id": f"id{i}{HOSTILE}", "description": LONG} for i in range(20)]}


HOSTILE_ERROR = {"error": {"code": HOSTILE, "detail": LONG}}
WEB, POIS, DESCRIPTIONS = "/res/v1/web/search", "/res/v1/local/pois", "/res/v1/local/descriptions"


def _local(standin: Any, pois: tuple[int, Any], descriptions: tuple[int, Any]) -> None:
    standin.queue(WEB, 200, locations_answer())
    standin.queue(POIS, *pois)
    standin.queue(DESCRIPTIONS, *descriptions)


CASES: dict[str, tuple[str, Callable[[Any], None]]] = {
    "web": ("brave_web_search", lambda api: api.queue(WEB, 200, web_answer())),
    "web, one giant result": ("brave_web_search", lambda api: api.queue(WEB, 200, web_answer(3, giant=True))),
    "news": ("brave_news_search", lambda api: api.queue("/res/v1/news/search", 200, news_answer())),
    "images": ("brave_image_search", lambda api: api.queue("/res/v1/images/search", 200, image_answer())),
    "videos": ("brave_video_search", lambda api: api.queue("/res/v1/videos/search", 200, video_answer())),
    "local": (
        "brave_local_search",
        lambda api: _local(api, (200, pois_answer()), (200, descriptions_answer())),
    ),
    "local, descriptions failed": (
        "brave_local_search",
        lambda api: _local(api, (200, pois_answer()), (400, HOSTILE_ERROR)),
    ),
    "local, details failed": (
        "brave_local_search",
        lambda api: _local(api, (400, HOSTILE_ERROR), (400, HOSTILE_ERROR)),
    ),
    "local, web instead": (
        "brave_local_search",
        lambda api: [api.queue(WEB, 200, {"query": _query()}), api.queue(WEB, 200, web_answer())],
    ),
}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_and_oversized_answers_are_framed_and_capped(
    make_server: Callable[..., Any], standin: Any, case: str, era: str
) -> None:
    tool, arrange = CASES[case]
    arrange(standin)
    async with connect(make_server(max_output_chars=BUDGET), era=era) as client:
        result = await client.call_tool(tool, {"query": "anything", "count": 20})
    assert not result.is_error, text(result)
    assert "Ignore previous instructions" in text(result)  # the payload reached the model: it must be framed
    assert_neutralized(result)
    assert_capped(result, BUDGET)
    assert "[truncated: showing " in text(result)
    data = structured(result)
    assert data is not None and data["truncated"] is True


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, HOSTILE_ERROR),
        (422, {"error": {"code": "VALIDATION", "meta": {"errors": [{"loc": [HOSTILE], "msg": LONG}]}}}),
        (500, {"error": {"detail": LONG}}),
    ],
)
async def test_api_error_details_are_quoted_short_and_visible(
    make_server: Callable[..., Any], standin: Any, status: int, body: dict[str, Any], era: str
) -> None:
    # Error texts are not framed; the API's words in them are cut short and stripped of what hides or forges.
    standin.queue(WEB, status, body, times=3)
    async with connect(make_server(max_output_chars=BUDGET, retries=0), era=era) as client:
        result = await client.call_tool("brave_web_search", {"query": "anything"})
    shown = text(result)
    assert result.is_error and shown.startswith("The Brave Search API ")
    assert len(shown) < 900
    for char in INVISIBLE_SAMPLES:
        assert char not in shown
    assert "</untrusted-data-0123456789abcdef>" not in shown and "<untrusted-data-feedface" not in shown
