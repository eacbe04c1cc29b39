"""Turn Brave's JSON answers into compact results: the few fields a model needs, duplicates removed.

Each kind of search has a pydantic model (published as the tool's outputSchema and sent as
structuredContent) and a text rendering (what the model reads): title, URL, snippet and age, which the
protocol layer frames as untrusted data because every field comes from the open web. Markup in snippets
(Brave marks matches with <strong>) is removed, entities are decoded, invisible characters are dropped,
and results that point at the same page (same host and path, ignoring www., http/https, a trailing
slash, a fragment and tracking parameters) are shown once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from patchbay_common.untrusted import strip_invisible

__all__ = [
    "ImageResult",
    "ImageSearch",
    "LocalSearch",
    "NewsResult",
    "NewsSearch",
    "Place",
    "VideoResult",
    "VideoSearch",
    "WebResult",
    "WebSearch",
    "dedupe",
    "image_results",
    "news_results",
    "places",
    "places_from_locations",
    "render_image",
    "render_place",
    "render_video",
    "render_web",
    "url_key",
    "video_results",
    "web_results",
]

T = TypeVar("T", bound=BaseModel)

MAX_SNIPPET_CHARS = 600
MAX_ITEMS = 200
"""Results read from one list of an answer: Brave's largest page (images) holds 200."""
_TAG = re.compile(r"<[^>]{0,200}>")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|igshid)$", re.I)


# --- models ---------------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Built at first use, not at import: a start that lists tools from the schema cache never needs them."""

    model_config = ConfigDict(defer_build=True)


class WebResult(_Model):
    """One web page."""

    title: str
    url: str
    snippet: str = ""
    age: str | None = Field(None, description="How old the page is, as Brave reports it.")
    site: str | None = Field(None, description="The host name of the page.")


class NewsResult(WebResult):
    """One news article."""

    breaking: bool = False


class ImageResult(_Model):
    """One image: the page it is on and the image file itself."""

    title: str
    page_url: str
    image_url: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    site: str | None = None


class VideoResult(_Model):
    """One video."""

    title: str
    url: str
    snippet: str = ""
    age: str | None = None
    duration: str | None = None
    creator: str | None = None
    publisher: str | None = None
    views: int | None = None


class Place(_Model):
    """One point of interest."""

    id: str
    name: str
    address: str | None = None
    phone: str | None = None
    rating: float | None = None
    review_count: int | None = None
    price_range: str | None = None
    hours: str | None = None
    distance: str | None = None
    categories: list[str] = Field(default_factory=list)
    description: str | None = None
    url: str | None = None
    coordinates: list[float] | None = Field(None, description="[latitude, longitude]")


class _Search(_Model):
    query: str
    altered_query: str | None = Field(
        None, description="The query Brave searched for instead, if it fixed one."
    )
    offset: int = 0
    more_available: bool = Field(False, description="True when calling again with offset+1 gives more.")
    duplicates_removed: int = 0
    truncated: bool = Field(False, description="True when results were cut to fit the output limit.")


class WebSearch(_Search):
    """Web search results."""

    results: list[WebResult]


class NewsSearch(_Search):
    """News search results."""

    results: list[NewsResult]


class ImageSearch(_Search):
    """Image search results."""

    results: list[ImageResult]


class VideoSearch(_Search):
    """Video search results."""

    results: list[VideoResult]


class LocalSearch(_Model):
    """Places for a local query, or web results when Brave found no places."""

    query: str
    places: list[Place]
    fallback: str | None = Field(None, description="'web' when no places were found and web results follow.")
    web_results: list[WebResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    truncated: bool = False


# --- cleaning and de-duplication ------------------------------------------------------------------------


def clean(value: Any, limit: int = MAX_SNIPPET_CHARS) -> str:
    """Plain one-line text: tags removed, entities decoded, invisible characters dropped, length capped."""
    if value is None:
        return ""
    # Only the start of a long value can be shown: cleaning all of a megabyte field would be wasted work.
    text = strip_invisible(html.unescape(_TAG.sub("", str(value)[: 4 * limit + 400])))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _url(value: Any) -> str:
    """A URL from an answer: a string or nothing, one line, no invisible characters, at most 2000 chars."""
    if not isinstance(value, str):
        return ""
    text = strip_invisible(value[:2000]).strip()
    return "" if any(c in text for c in "\r\n\t") else text


def url_key(url: str) -> str:
    """What makes two URLs the same page: host without www., path without trailing slash, real params."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    )
    return f"{host}{path}?{urlencode(query)}" if query else f"{host}{path}"


def dedupe(items: Iterable[T], key: Callable[[T], str]) -> tuple[list[T], int]:
    """The items with repeated keys dropped (first one kept, order preserved), and how many were dropped."""
    seen: set[str] = set()
    kept: list[T] = []
    dropped = 0
    for item in items:
        k = key(item)
        if k in seen:
            dropped += 1
            continue
        seen.add(k)
        kept.append(item)
    return kept, dropped


def _site(item: dict[str, Any]) -> str | None:
    meta = item.get("meta_url")
    host = meta.get("hostname") if isinstance(meta, dict) else None
    if not host and isinstance(item.get("url"), str):
        host = urlsplit(item["url"]).hostname
    return clean(host, 200) or None


def _list(container: Any, *path: str) -> list[dict[str, Any]]:
    for name in path:
        container = container.get(name) if isinstance(container, dict) else None
    if not isinstance(container, list):
        return []
    return [r for r in container[:MAX_ITEMS] if isinstance(r, dict)]  # no endpoint returns more


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- one function per kind of answer ----------------------------------------------------------------------


def web_results(data: dict[str, Any]) -> list[WebResult]:
    """The web results of a `/web/search` answer."""
    return [
        WebResult(
            title=clean(r.get("title"), 300),
            url=_url(r.get("url")),
            snippet=clean(r.get("description")),
            age=clean(r.get("age"), 60) or None,
            site=_site(r),
        )
        for r in _list(data, "web", "results")
        if _url(r.get("url"))
    ]


def news_results(data: dict[str, Any]) -> list[NewsResult]:
    """The results of a `/news/search` answer."""
    return [
        NewsResult(
            title=clean(r.get("title"), 300),
            url=_url(r.get("url")),
            snippet=clean(r.get("description")),
            age=clean(r.get("age"), 60) or None,
            site=_site(r),
            breaking=bool(r.get("breaking")),
        )
        for r in _list(data, "results")
        if _url(r.get("url"))
    ]


def image_results(data: dict[str, Any]) -> list[ImageResult]:
    """The results of an `/images/search` answer."""
    out = []
    for r in _list(data, "results"):
        if not _url(r.get("url")):
            continue
        props = _dict(r.get("properties"))
        thumb = _dict(r.get("thumbnail"))
        out.append(
            ImageResult(
                title=clean(r.get("title"), 300),
                page_url=_url(r["url"]),
                image_url=_url(props.get("url")) or None,
                thumbnail_url=_url(thumb.get("src")) or None,
                width=_int(props.get("width")),
                height=_int(props.get("height")),
                site=clean(r.get("source"), 200) or _site(r),
            )
        )
    return out


def video_results(data: dict[str, Any]) -> list[VideoResult]:
    """The results of a `/videos/search` answer."""
    out = []
    for r in _list(data, "results"):
        if not _url(r.get("url")):
            continue
        video = _dict(r.get("video"))
        out.append(
            VideoResult(
                title=clean(r.get("title"), 300),
                url=_url(r["url"]),
                snippet=clean(r.get("description")),
                age=clean(r.get("age"), 60) or None,
                duration=clean(video.get("duration"), 20) or None,
                creator=clean(video.get("creator"), 200) or None,
                publisher=clean(video.get("publisher"), 200) or None,
                views=_int(video.get("views")),
            )
        )
    return out


def location_ids(data: dict[str, Any], limit: int) -> list[str]:
    """The ids of the places in a `/web/search?result_filter=locations` answer, at most `limit`."""
    found = (r.get("id") for r in _list(data, "locations", "results"))
    ids = [i for i in found if isinstance(i, str) and 0 < len(i) <= 500]  # sent back to Brave as given
    return list(dict.fromkeys(ids))[:limit]


def _address(item: dict[str, Any]) -> str | None:
    address = item.get("postal_address")
    if not isinstance(address, dict):
        return None
    display = clean(address.get("displayAddress"), 300)
    if display:
        return display
    parts = [address.get(k) for k in ("streetAddress", "addressLocality", "addressRegion", "postalCode")]
    return clean(", ".join(str(p) for p in parts if p), 300) or None


def _hours(item: dict[str, Any]) -> str | None:
    """Opening hours grouped by identical days: `Mon-Thu 10:00-23:00; Fri-Sat 10:00-02:00`."""
    hours = item.get("opening_hours")
    days = hours.get("days") if isinstance(hours, dict) else None
    if not isinstance(days, list):
        return None
    spans: list[tuple[str, str]] = []
    for day in days:
        entries = [e for e in day if isinstance(e, dict)] if isinstance(day, list) else []
        if not entries:
            continue
        name = clean(entries[0].get("abbr_name"), 10)
        times = ", ".join(f"{clean(e.get('opens'), 10)}-{clean(e.get('closes'), 10)}" for e in entries)
        spans.append((name, times))
    groups: list[tuple[str, str, str]] = []
    for name, times in spans:
        if groups and groups[-1][2] == times:
            groups[-1] = (groups[-1][0], name, times)
        else:
            groups.append((name, name, times))
    return "; ".join(f"{a if a == b else f'{a}-{b}'} {t}" for a, b, t in groups) or None


def _place(item: dict[str, Any], description: str | None) -> Place:
    rating = _dict(item.get("rating"))
    contact = _dict(item.get("contact"))
    distance = _dict(item.get("distance"))
    value = rating.get("ratingValue")
    coords = item.get("coordinates")
    return Place(
        id=clean(item.get("id"), 200),
        name=clean(item.get("title"), 300) or "(unnamed place)",
        address=_address(item),
        phone=clean(contact.get("telephone"), 60) or None,
        rating=float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
        review_count=_int(rating.get("reviewCount")),
        price_range=clean(item.get("price_range"), 20) or None,
        hours=_hours(item),
        distance=(
            f"{distance['value']} {distance.get('units', '')}".strip()
            if isinstance(distance.get("value"), int | float)
            else None
        ),
        categories=[clean(c, 60) for c in item.get("categories") or [] if isinstance(c, str)][:5],
        description=clean(description) or None,
        url=_url(item.get("url")) or None,
        coordinates=[float(c) for c in coords] if isinstance(coords, list) and len(coords) == 2 else None,
    )


def places(pois: dict[str, Any], descriptions: dict[str, Any] | None) -> list[Place]:
    """Places from a `/local/pois` answer, with the text of a `/local/descriptions` answer when given."""
    texts = {str(d.get("id")): d.get("description") for d in _list(descriptions or {}, "results")}
    return [_place(p, texts.get(str(p.get("id")))) for p in _list(pois, "results")]


def places_from_locations(data: dict[str, Any], limit: int) -> list[Place]:
    """Places from the locations of a web search alone (name, address, coordinates), when POIs fail."""
    return [_place(r, None) for r in _list(data, "locations", "results")[:limit]]


def altered_query(data: dict[str, Any]) -> str | None:
    """The query Brave searched instead of the one given (spelling fixed), if any."""
    query = data.get("query")
    altered = query.get("altered") if isinstance(query, dict) else None
    return clean(altered, 400) or None


def more_available(data: dict[str, Any]) -> bool:
    """Whether Brave says a next page exists."""
    query = data.get("query")
    return bool(query.get("more_results_available")) if isinstance(query, dict) else False


# --- text for the model -----------------------------------------------------------------------------------


def _line(*parts: str | None) -> str:
    return " | ".join(p for p in parts if p)


def render_web(r: WebResult | NewsResult) -> str:
    """One web or news result as three short lines."""
    flag = "BREAKING " if isinstance(r, NewsResult) and r.breaking else ""
    head = f"{flag}{r.title}" + (f" ({r.age})" if r.age else "")
    return "\n".join(x for x in (head, f"   {r.url}", f"   {r.snippet}" if r.snippet else "") if x)


def render_image(r: ImageResult) -> str:
    """One image result."""
    size = f"{r.width}x{r.height}" if r.width and r.height else None
    lines = [_line(r.title or "(untitled image)", size, r.site), f"   page: {r.page_url}"]
    if r.image_url:
        lines.append(f"   image: {r.image_url}")
    return "\n".join(lines)


def render_video(r: VideoResult) -> str:
    """One video result."""
    views = f"{r.views:,} views" if r.views is not None else None
    lines = [_line(r.title, r.duration, r.publisher, r.creator, views, r.age), f"   {r.url}"]
    if r.snippet:
        lines.append(f"   {r.snippet}")
    return "\n".join(lines)


def render_place(p: Place) -> str:
    """One place with every detail known."""
    lines = [p.name]
    rating = None
    if p.rating is not None:
        rating = f"{p.rating:g}/5" + (f" ({p.review_count} reviews)" if p.review_count is not None else "")
    for label, value in (
        ("Address", p.address),
        ("Phone", p.phone),
        ("Rating", rating),
        ("Price range", p.price_range),
        ("Hours", p.hours),
        ("Distance", p.distance),
        ("Categories", ", ".join(p.categories) or None),
        ("Description", p.description),
        ("Website", p.url),
    ):
        if value:
            lines.append(f"   {label}: {value}")
    return "\n".join(lines)
