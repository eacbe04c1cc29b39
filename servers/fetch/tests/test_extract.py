"""Extraction on its own: saved real pages, Markdown constructs, charsets, JSON paths, paging."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from patchbay_common.errors import UserError
from patchbay_fetch import extract
from patchbay_fetch.render import window

PAGES = Path(__file__).parent / "pages"
MANIFEST = json.loads((PAGES / "manifest.json").read_text())["pages"]


def normalise(text: str) -> str:
    """Markdown to comparable text: link targets, emphasis and escapes removed, whitespace collapsed."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"[*_\\`#\[\]]", "", text)
    return re.sub(r"\s+", " ", text)


def _document(entry: dict[str, Any]) -> extract.Document:
    body = (PAGES / entry["file"]).read_bytes()
    text, _ = extract.decode_body(body, None, html=True)
    return extract.parse_html(text, entry["url"])


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_main_content_of_saved_pages(entry: dict[str, Any]) -> None:
    markdown = normalise(_document(entry).markdown())
    missing = [phrase for phrase in entry["must"] if normalise(phrase) not in markdown]
    noise = [phrase for phrase in entry["must_not"] if normalise(phrase) in markdown]
    assert missing == [] and noise == []


def test_news_article_markdown_and_metadata() -> None:
    entry = next(e for e in MANIFEST if e["file"] == "news-article.html")
    document = _document(entry)
    assert document.title == "Harbour town votes to rebuild its tidal mill | The Coastal Courier"
    assert document.description is not None and document.description.startswith("After a decade of debate")
    assert document.canonical == "https://www.coastalcourier.example/news/2026/03/saltmere-tidal-mill-vote"
    assert document.language == "en-GB"
    markdown = document.markdown()
    assert "# Harbour town votes to rebuild its tidal mill" in markdown
    assert "## A decade of debate" in markdown
    assert "> \u201cThis is the last working tidal mill site" in markdown
    assert "1. Detailed drawings go to the planning committee in June." in markdown
    assert "| Option | Votes | Share |\n|---|---|---|\n| Restore the mill | 3,412 | 68% |" in markdown
    assert (
        "[council's website](https://www.coastalcourier.example/documents/saltmere-mill-plan.pdf)" in markdown
    )
    assert (
        "![The ruined tidal mill at low water](https://www.coastalcourier.example/images/2026/03/" in markdown
    )
    text = document.text()
    assert "Residents of Saltmere" in text and "](" not in text and "##" not in text


def test_code_blocks_keep_their_language_and_text() -> None:
    entry = next(e for e in MANIFEST if e["file"] == "rust-book-ownership.html")
    markdown = _document(entry).markdown()
    assert '```rust\nfn main() {\n    let s1 = String::from("hello");' in markdown


def test_selector_links_and_html() -> None:
    entry = next(e for e in MANIFEST if e["file"] == "news-article.html")
    document = _document(entry)
    table = document.select("table.results")
    assert document.markdown(table).startswith("| Option | Votes | Share |")
    assert document.html(table).startswith('<table class="results">')
    links = dict(document.links())
    assert links["https://www.coastalcourier.example/news/2025/11/saltmere-flood-defences"] == (
        "Saltmere flood defence plan delayed again"
    )
    with pytest.raises(UserError, match="not valid"):
        document.select("div[[")


@pytest.mark.parametrize(
    ("body", "header", "expected", "encoding"),
    [
        ("Caf\u00e9".encode("latin-1"), "ISO-8859-1", "Caf\u00e9", "cp1252"),
        ('<meta charset="shift_jis"><p>日本語</p>'.encode("shift_jis"), None, "日本語", "shift_jis"),
        ("\ufeffhello \u00e9".encode("utf-8"), "latin-1", "hello \u00e9", "utf-8"),
        ("plain \u00e9 utf-8".encode(), None, "plain \u00e9 utf-8", "utf-8"),
        (
            ("Die Stra\u00dfe f\u00fchrt \u00fcber die Br\u00fccke. " * 20).encode("cp1252"),
            None,
            "Stra\u00dfe",
            None,
        ),
    ],
)
def test_charsets(body: bytes, header: str | None, expected: str, encoding: str | None) -> None:
    text, used = extract.decode_body(body, header, html=True)
    assert expected in text
    if encoding is not None:
        assert used == encoding


def test_json_paths() -> None:
    data = {"items": [{"name": "alpha", "id": 1}, {"name": "beta", "id": 2}], "a b": {"c": True}}
    assert extract.select_json(data, "$.items[0].name") == "alpha"
    assert extract.select_json(data, "items[*].id") == [1, 2]
    assert extract.select_json(data, "$['a b'].c") is True
    assert extract.select_json(data, "$") == data
    with pytest.raises(UserError, match="selects nothing"):
        extract.select_json(data, "$.items[5]")
    with pytest.raises(UserError, match="not understood"):
        extract.select_json(data, "$.items[?(@.id>1)]")
    assert json.loads(extract.pretty_json(json.dumps(data), "items[1]")) == {"name": "beta", "id": 2}
    with pytest.raises(UserError, match="not valid JSON"):
        extract.pretty_json("<html>", None)


def test_paging_never_repeats_or_loses_text() -> None:
    entry = next(e for e in MANIFEST if e["file"] == "python-idle-help.html")
    text = _document(entry).markdown()
    pieces, start = [], 0
    while True:
        page = window(text, start, 1000)
        pieces.append(page.text)
        assert len(page.text) <= 1000
        if page.next_index is None:
            break
        assert page.text[-1] in " \n"  # cut at a break, not mid-word
        start = page.next_index
    assert "".join(pieces) == text
    assert window(text, 0, 1000) == window(text, 0, 1000)
    with pytest.raises(UserError, match="past the end"):
        window(text, len(text) + 5, 100)


def test_empty_and_odd_documents() -> None:
    assert extract.parse_html("", "https://a.example/").markdown() == ""
    xml_declared = extract.parse_html(
        '<?xml version="1.0" encoding="utf-8"?><html><p>x</p></html>', "https://a/"
    )
    assert xml_declared.markdown() == "x"
