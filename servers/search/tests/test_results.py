"""Turning Brave's answers (the committed fixtures) into compact results."""

from __future__ import annotations

from typing import Any

import patchbay_search_tests_standin as standin_module  # loaded by conftest.py
from patchbay_search import results as r
from patchbay_search import search


def fixture(name: str) -> Any:
    return standin_module.load_fixture(name)


def test_web_results_are_compact_and_clean() -> None:
    items = r.web_results(fixture("web_search.json"))
    assert len(items) == 12
    docs = items[1]
    assert docs.title == "Brave Search API documentation"
    assert docs.snippet.startswith("The Brave Search API is a REST API")  # <strong> removed
    assert docs.age == "June 2, 2024"
    assert docs.site == "api-dashboard.search.brave.com"
    assert items[4].age is None  # no age in the answer: none invented


def test_same_page_is_shown_once() -> None:
    items, dropped = r.dedupe(r.web_results(fixture("web_search.json")), key=lambda i: r.url_key(i.url))
    assert dropped == 2  # the utm_ copy and the #pricing copy of brave.com/search/api/
    assert [i.url for i in items].count("https://brave.com/search/api/") == 1
    assert len(items) == 10


def test_url_key() -> None:
    same = [
        "https://brave.com/search/api/",
        "http://www.brave.com/search/api",
        "https://BRAVE.com/search/api/?utm_source=x&fbclid=y#top",
    ]
    assert len({r.url_key(u) for u in same}) == 1
    assert r.url_key("https://a.example/p?id=1") != r.url_key("https://a.example/p?id=2")
    assert r.url_key("https://a.example/p?b=2&a=1") == r.url_key("https://a.example/p?a=1&b=2")
    assert r.url_key("https://a.example:8443/p") != r.url_key("https://a.example/p")


def test_clean_strips_markup_entities_and_invisible_characters() -> None:
    assert r.clean("<strong>Fish</strong> &amp; chips\u200b\u202e  here") == "Fish & chips here"
    assert r.clean(None) == ""
    long = r.clean("word " * 500, 50)
    assert len(long) == 50 and long.endswith("...")


def test_news_images_videos() -> None:
    news = r.news_results(fixture("news_search.json"))
    assert [n.breaking for n in news] == [False, False, True, False]
    assert news[0].site == "www.theverge.example"
    images = r.image_results(fixture("images_search.json"))
    assert images[0].image_url == "https://brave.com/static-assets/images/brave-logo-1200.png"
    assert (images[0].width, images[0].height, images[0].site) == (1200, 1200, "brave.com")
    videos = r.video_results(fixture("videos_search.json"))
    assert (videos[0].duration, videos[0].views, videos[0].publisher) == ("05:22", 48213, "YouTube")
    assert videos[2].views is None


def test_places_join_pois_and_descriptions() -> None:
    places = r.places(fixture("local_pois.json"), fixture("local_descriptions.json"))
    joe = places[0]
    assert joe.name == "Joe's Pizza Broadway"
    assert joe.address == "1435 Broadway, New York, NY 10019"
    assert (joe.phone, joe.rating, joe.review_count, joe.price_range) == ("+1 646-559-4878", 4.5, 1032, "$")
    assert joe.hours == "Mon-Thu 10:00-23:00; Fri-Sat 10:00-02:00; Sun 10:00-22:00"
    assert joe.distance == "0.4 mi"
    assert joe.description and joe.description.startswith("Joe's Pizza on Broadway")
    assert joe.coordinates == [40.76478, -73.98123]
    assert places[2].description is None and places[2].hours is None  # Mama's Too has neither
    text = r.render_place(places[2])
    assert "Hours" not in text and "N/A" not in text


def test_places_from_locations_alone() -> None:
    data = fixture("web_search_locations.json")
    assert r.location_ids(data, 2) == ["1520066f3f39496780c5931d9f7b26a6", "d00b153c719a427ea515f9eacf4853a2"]
    places = r.places_from_locations(data, 5)
    assert [p.name for p in places] == [
        "Joe's Pizza Broadway",
        "Patsy's Pizzeria Columbus Circle",
        "Mama's Too",
    ]
    assert places[1].address == "206 W 60th St, New York, NY 10019"
    assert places[0].phone is None


def test_fit_page_keeps_the_most_results_that_fit() -> None:
    items = r.web_results(fixture("web_search.json"))

    def build(k: int) -> search.Page:
        kept = items[:k]
        structured = {"results": [i.model_dump(mode="json") for i in kept]}
        return search.Page("\n".join(r.render_web(i) for i in kept), f"{k} shown.", structured, "test")

    page = search.fit_page(build, len(items), 2500)
    kept = len(page.structured["results"])
    assert 1 <= kept < len(items)
    assert page.size() <= 2500 < build(kept + 1).size()
    assert len(search.fit_page(build, len(items), 100_000).structured["results"]) == len(items)
    # One result too big for the budget is still shown: the layer then cuts it with its own marker.
    assert len(search.fit_page(build, len(items), 10).structured["results"]) == 1
    assert search.fit_page(build, 0, 10).structured == {"results": []}


def test_odd_answers_do_not_crash() -> None:
    assert r.web_results({}) == []
    assert r.web_results({"web": {"results": [None, {"title": "no url"}, "x"]}}) == []
    assert r.places({"results": [{}]}, None)[0].name == "(unnamed place)"
    assert r.altered_query({"query": {"altered": "pizza"}}) == "pizza"
    assert r.more_available({"query": None}) is False


def test_malformed_and_oversized_fields_never_crash_and_stay_bounded() -> None:
    """URLs that are not strings, megabyte fields, ids that are not strings: dropped or cut, not an error."""
    huge = "x" * 1_000_000
    images = {
        "results": [
            {
                "url": "https://a.example/p",
                "title": huge,
                "properties": {"url": 12345},
                "thumbnail": {"src": []},
            },
            {"url": "https://b.example/\u200bp", "properties": {"url": "https://b.example/" + huge}},
            {"url": {"not": "a string"}, "title": "dropped"},
        ]
    }
    found = r.image_results(images)
    assert [i.page_url for i in found] == ["https://a.example/p", "https://b.example/p"]
    assert found[0].image_url is None and found[0].thumbnail_url is None and len(found[0].title) <= 300
    assert found[1].image_url is not None and len(found[1].image_url) <= 2000
    web = r.web_results({"web": {"results": [{"url": "https://c.example/", "description": huge}] * 5000}})
    assert len(web) == r.MAX_ITEMS and all(len(i.snippet) <= r.MAX_SNIPPET_CHARS for i in web)
    locations = {"locations": {"results": [{"id": 7}, {"id": huge}, {"id": "abc"}]}}
    assert r.location_ids(locations, 5) == ["abc"]
    place = r.places({"results": [{"id": ["x"], "title": "Cafe", "url": 99}]}, None)[0]
    assert place.name == "Cafe" and place.url is None
