"""Hostile and oversized database content through every tool and resource that returns it, both eras.

The payload (`HOSTILE`: a forged closing and opening boundary, invisible characters, an instruction) is put
into every place a database can carry text a model will read: table, view, column and index names, column
defaults, comments inside CREATE statements, cell values, RETURNING rows, query plans, and the insights memo
(model-written text derived from data). There is a lot of it, under a 3,000-character budget: every answer
must come back framed, sanitized in text and structured form, and within the budget, and paging through an
oversized result must skip and repeat no row.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_helpers import settings

from patchbay_common.results import Reply
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import (
    HOSTILE,
    INVISIBLE_SAMPLES,
    assert_capped,
    assert_neutralized,
    structured,
    text,
)
from patchbay_sqlite.queries import answer_chars, answer_chars_at_most
from patchbay_sqlite.server import build

pytestmark = pytest.mark.anyio

BUDGET = 3_000
ROWS = 60
TABLES = 40


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A database whose every name, default, comment and cell carries HOSTILE, and too much of it."""
    path = tmp_path / "hostile.db"
    table = _quoted(HOSTILE)
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {_quoted(HOSTILE + 'col')} TEXT "
            f"DEFAULT '{HOSTILE}' /* {HOSTILE} */, body TEXT)"
        )
        conn.execute(f"CREATE INDEX {_quoted(HOSTILE + 'idx')} ON {table} (body)")
        conn.execute(
            f"CREATE VIEW {_quoted(HOSTILE + 'view')} AS SELECT body AS {_quoted(HOSTILE)} FROM {table}"  # noqa: S608
        )
        conn.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?)",  # noqa: S608 - our own quoted name
            [(i, f"{HOSTILE} {i}", HOSTILE * 2) for i in range(1, ROWS + 1)],
        )
        conn.execute(f"CREATE TABLE notes ({_quoted(HOSTILE)} TEXT DEFAULT '{HOSTILE}' /* {HOSTILE} */)")
        wide = ", ".join(f"{_quoted(f'{HOSTILE} {c}')} TEXT" for c in range(120))
        for t in range(TABLES):  # many tables, each with many long names: an oversized listing
            conn.execute(f"CREATE TABLE {_quoted(f'{HOSTILE} t{t}')} ({wide})")
    conn.close()
    return path


def _server(path: Path, *flags: str) -> Any:
    return build(settings("--db", f"h={path}", "--max-output-chars", str(BUDGET), *flags))


def _checked(result: Any) -> Any:
    assert not result.is_error, text(result)
    assert_neutralized(result)
    assert_capped(result, BUDGET)
    return result


def _checked_resource(contents: Any) -> str:
    body = text(contents)
    assert len(body) <= BUDGET, f"resource text is {len(body)} characters"
    assert_neutralized(contents)
    return body


@pytest.mark.parametrize("era", ERAS)
async def test_every_read_tool_frames_sanitizes_and_caps_hostile_content(hostile: Path, era: str) -> None:
    table = HOSTILE
    async with connect(_server(hostile), era=era) as client:  # type: ignore[arg-type]
        listed = _checked(await client.call_tool("list_tables", {}))
        assert "Ignore previous instructions" in json.dumps(structured(listed))
        assert "[truncated:" in text(listed)  # 40 tables of 120 long column names: cut by the layer

        described = _checked(await client.call_tool("describe_table", {"table_name": table}))
        assert "Ignore previous instructions" in json.dumps(structured(described))
        wide = _checked(await client.call_tool("describe_table", {"table_name": f"{table} t0"}))
        assert "[truncated:" in text(wide)

        plan = _checked(
            await client.call_tool(
                "explain_query",
                {"query": " UNION ALL ".join([f"SELECT body FROM {_quoted(table)}"] * 60)},  # noqa: S608
            )
        )
        assert "Ignore previous instructions" in text(plan)

        # Page through the whole oversized table: every page capped, no row skipped or repeated.
        seen: list[int] = []
        result = _checked(
            await client.call_tool("read_query", {"query": f"SELECT * FROM {_quoted(table)} ORDER BY id"})  # noqa: S608
        )
        pages = 1
        while True:
            data = structured(result)
            seen += [row[0] for row in data["rows"]]
            assert data["row_count"] == len(data["rows"]) >= 1
            if not data["truncated"]:
                break
            assert f"cursor={data['next_cursor']}" in text(result)  # the continuation survived the budget
            if pages == 1:
                page = await client.read_resource(f"{data['result_uri']}?offset={len(seen)}")
                assert _checked_resource(page).count("Ignore previous instructions") >= 1
            result = _checked(await client.call_tool("read_more_rows", {"cursor": data["next_cursor"]}))
            pages += 1
        assert seen == list(range(1, ROWS + 1)) and pages > 2

        for uri in ("sqlite://h/schema",):
            _checked_resource(await client.read_resource(uri))
        described_json = text(await client.read_resource("sqlite://h/table/notes"))
        for char in INVISIBLE_SAMPLES:
            assert char not in described_json
        assert "<untrusted-data-feedface" not in described_json
        assert json.loads(described_json)["columns"][0]["name"].startswith("Ignore previous instructions")

        for i in range(30):  # the memo is model-written text derived from the data
            added = await client.call_tool("append_insight", {"insight": f"{HOSTILE * 8} {i}"})
            assert not added.is_error, text(added)
        memo = _checked_resource(await client.read_resource("memo://insights"))
        assert "[truncated:" in memo


@pytest.mark.parametrize("era", ERAS)
async def test_returning_rows_are_framed_sanitized_and_capped(hostile: Path, era: str) -> None:
    async with connect(_server(hostile, "--access", "dml"), era=era) as client:  # type: ignore[arg-type]
        result = _checked(
            await client.call_tool(
                "write_query",
                {
                    "query": f"UPDATE {_quoted(HOSTILE)} SET body = body || ? WHERE id <= ? RETURNING *",  # noqa: S608
                    "params": [HOSTILE, 50],
                },
            )
        )
    data = structured(result)
    assert data["rows_changed"] == 50 and 1 <= len(data["rows"]) < 50
    assert "OK: 50 rows changed in database h." in text(result)
    assert f"[truncated: showing {len(data['rows'])} of 50 RETURNING rows;" in text(result)


async def test_a_missing_table_error_does_not_quote_hostile_table_names(hostile: Path) -> None:
    """An error text is not framed, so the hint lists only plainly named tables."""
    async with connect(_server(hostile)) as client:
        missing = await client.call_tool("describe_table", {"table_name": "nope"})
    assert missing.is_error
    assert "Ignore previous instructions" not in text(missing)
    assert "Tables: notes and 42 with other characters." in text(missing)


@pytest.mark.parametrize(
    "content",
    ["", "plain", HOSTILE, HOSTILE * 3, "<" * 50, "<\u200buntrusted-data x", *INVISIBLE_SAMPLES],
)
def test_the_cheap_size_bound_is_never_below_the_answer_as_shown(content: str) -> None:
    reply = Reply(
        content,
        note=f"1 row. {content}",
        structured={"columns": [content], "rows": [[content, 1, None]], content: content},
        source=f"query result {content}",
    )
    label = "query result from database main"
    assert answer_chars_at_most(reply, label) >= answer_chars(reply, label)
