"""The fetcher against the local site: guard, caps, deadline, retries, cache, redirects, robots.txt."""

from __future__ import annotations

import time
from typing import Any

import pytest

from patchbay_common.egress import EgressDenied, EgressPolicy
from patchbay_common.errors import UserError
from patchbay_fetch.robots import RobotsDenied
from patchbay_fetch.web import Fetcher, FetchOptions

UA = "patchbay-fetch-tests/1.0"


def fetcher(**options: Any) -> Fetcher:
    policy = options.pop("policy", EgressPolicy(allow_private=True))
    return Fetcher(policy, FetchOptions(user_agent=UA, **{"deadline": 5.0, **options}))


@pytest.mark.anyio
async def test_page_fetched_with_headers(site: Any) -> None:
    web = fetcher()
    response = await web.fetch(site.url("/pages/news-article.html"))
    assert response.status == 200 and response.mime == "text/html"
    assert b"Saltmere" in response.body
    sent = site.headers["/pages/news-article.html"]
    assert sent["User-Agent"] == UA and sent["Accept-Encoding"] == "gzip, deflate"
    await web.aclose()


@pytest.mark.anyio
async def test_the_guard_blocks_the_site_without_the_allowance(site: Any) -> None:
    before = site.hits["/pages/news-article.html"]
    web = fetcher(policy=EgressPolicy())
    with pytest.raises(EgressDenied, match="loopback"):
        await web.fetch(site.url("/pages/news-article.html"), check_robots=False)
    with pytest.raises(EgressDenied, match="loopback"):  # robots.txt goes through the guard too
        await web.fetch(site.url("/pages/news-article.html"))
    assert site.hits["/pages/news-article.html"] == before
    await web.aclose()


@pytest.mark.anyio
async def test_redirect_to_an_internal_address_is_refused(site: Any) -> None:
    web = fetcher(policy=EgressPolicy(allow_hosts=["localhost"]))
    target = site.url("/private/x")  # 127.0.0.1: not allowed by name
    with pytest.raises(EgressDenied, match="loopback"):
        await web.fetch(site.url(f"/redirect?to={target}", host="localhost"), check_robots=False)
    await web.aclose()


@pytest.mark.anyio
async def test_redirects_followed_and_capped(site: Any) -> None:
    web = fetcher(max_redirects=3)
    response = await web.fetch(site.url("/redirect?to=/pages/zlib-how.html"))
    assert response.final_url.endswith("/pages/zlib-how.html")
    assert response.redirects == [site.url("/redirect?to=/pages/zlib-how.html")]
    with pytest.raises(UserError, match="redirected more than 3 times"):
        await web.fetch(site.url("/loop"))
    with pytest.raises(EgressDenied, match="only http and https"):
        await web.fetch(site.url("/redirect?to=file:///etc/passwd"))
    await web.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/huge", "/huge-chunked", "/bomb"])
async def test_bodies_are_capped_while_streaming(site: Any, path: str) -> None:
    web = fetcher(max_bytes=1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"at most 1\.00 MB per response"):
        await web.fetch(site.url(path), check_robots=False)
    assert time.perf_counter() - started < 3
    await web.aclose()


@pytest.mark.anyio
async def test_gzip_is_decoded(site: Any) -> None:
    web = fetcher()
    response = await web.fetch(site.url("/gzip"))
    assert b"Compressed hello." in response.body
    await web.aclose()


@pytest.mark.anyio
async def test_total_deadline_cuts_a_trickling_server(site: Any) -> None:
    web = fetcher(deadline=1.5)
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"did not finish within 1\.5 s"):
        await web.fetch(site.url("/trickle"), check_robots=False)
    assert time.perf_counter() - started < 3
    await web.aclose()


@pytest.mark.anyio
async def test_429_is_retried_after_retry_after(site: Any) -> None:
    web = fetcher()
    waits = site.hits["/wait-long"]
    response = await web.fetch(site.url("/flaky/a"))
    assert response.status == 200 and b"second try" in response.body
    assert site.hits["/flaky/a"] == 2
    with pytest.raises(UserError, match="after 3 attempts"):
        await web.fetch(site.url("/always-503"))
    with pytest.raises(UserError, match="asked to wait 3600 s"):
        await web.fetch(site.url("/wait-long"))
    assert site.hits["/wait-long"] == waits + 1
    await web.aclose()


@pytest.mark.anyio
async def test_cache_revalidates_with_etag_and_honours_max_age(site: Any) -> None:
    web = fetcher()
    hits, revalidated, fresh = site.hits["/etag"], site.hits["/etag 304"], site.hits["/max-age"]
    first = await web.fetch(site.url("/etag"))
    second = await web.fetch(site.url("/etag"))
    assert not first.from_cache and second.from_cache and second.body == first.body
    assert site.hits["/etag"] == hits + 2 and site.hits["/etag 304"] == revalidated + 1
    await web.fetch(site.url("/max-age"))
    again = await web.fetch(site.url("/max-age"))
    assert again.from_cache and site.hits["/max-age"] == fresh + 1
    await web.aclose()


@pytest.mark.anyio
async def test_robots_txt_is_honoured_and_cached(site: Any) -> None:
    web = fetcher()
    before = site.hits["/robots.txt"]
    await web.fetch(site.url("/pages/zlib-how.html"))
    with pytest.raises(RobotsDenied, match="does not allow the user agent") as denied:
        await web.fetch(site.url("/private/secret"))
    assert "--ignore-robots-txt" in str(denied.value)
    assert site.hits["/private/secret"] == 0
    with pytest.raises(RobotsDenied):
        await web.fetch(site.url("/pages/zlib-how.html"), user_agent="BadBot/2.0")
    assert site.hits["/robots.txt"] == before + 1  # fetched once for all of the above
    assert web.robots.fetches == 1
    # A robots.txt that answers 503 means the site is unreachable: nothing is allowed (RFC 9309).
    with pytest.raises(RobotsDenied, match="could not be read, so nothing is allowed"):
        await web.fetch(site.url("/pages/zlib-how.html", host="localhost"))
    # Without the robots check (the prompt), the same pages are fetched.
    assert (await web.fetch(site.url("/private/secret"), check_robots=False)).status == 200
    await web.aclose()


@pytest.mark.anyio
async def test_a_cached_page_still_needs_robots_permission(site: Any) -> None:
    web = fetcher()
    url = site.url("/private/cached?x=1")
    assert (await web.fetch(url, check_robots=False)).status == 200  # the prompt's way
    web.cached(url).expires = time.monotonic() + 60  # type: ignore[union-attr]  # as if max-age said so
    with pytest.raises(RobotsDenied):
        await web.fetch(url)
    await web.aclose()
