"""Parameter checks: bad values are refused with the accepted forms, before any request is made."""

from __future__ import annotations

import pytest

from patchbay_common.errors import UserError
from patchbay_search.params import SearchOptions, check_query


def test_query_is_normalised() -> None:
    assert check_query("  pizza \n near   park ") == "pizza near park"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "The query is empty."),
        ("   ", "The query is empty."),
        ("x" * 401, "401 characters long; Brave accepts at most 400"),
        (" ".join(["w"] * 51), "51 words; Brave accepts at most 50"),
    ],
)
def test_bad_queries(query: str, expected: str) -> None:
    with pytest.raises(UserError) as caught:
        check_query(query)
    assert expected in str(caught.value)


def test_limits_are_inclusive() -> None:
    assert check_query("x" * 400)
    assert check_query(" ".join(["w"] * 50))


def test_options_become_query_pairs() -> None:
    options = SearchOptions(country="de", search_lang="PT-BR", safesearch="strict", freshness="pw")
    assert options.params() == [
        ("country", "DE"),
        ("search_lang", "pt-br"),
        ("safesearch", "strict"),
        ("freshness", "pw"),
    ]
    assert SearchOptions(country="all").params() == [("country", "ALL")]
    assert SearchOptions(freshness="2024-01-01to2024-06-30").params() == [
        ("freshness", "2024-01-01to2024-06-30")
    ]
    assert SearchOptions().params() == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (SearchOptions(country="usa"), "'usa' is not a two-letter country code"),
        (SearchOptions(search_lang="english"), "'english' is not a language code"),
        (SearchOptions(freshness="yesterday"), "'yesterday' is not a period Brave understands"),
        (SearchOptions(freshness="2024-02-30to2024-03-01"), "holds a date that does not exist"),
        (SearchOptions(freshness="2024-06-01to2024-01-01"), "starts after it ends"),
    ],
)
def test_bad_options_say_what_is_accepted(options: SearchOptions, expected: str) -> None:
    with pytest.raises(UserError) as caught:
        options.params()
    assert expected in caught.value.message
    assert caught.value.hint
