"""Reading a whole snapshot window by window through a client, checking each window against its marker.

Loaded by the browser tests with `import_file` (a unique module name: all test folders share one
interpreter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.testing.results import text

MARKER = re.compile(
    r"showing characters (\d+)-(\d+) of (\d+) \(([\d,]+) lines left\); "
    r"call snapshot with cursor=([A-Za-z0-9_.-]+) to read on"
)
FRAMED = re.compile(r"in it\.\n(.*)\n</untrusted-data-[0-9a-f]{16}>", re.S)


@dataclass
class Paged:
    """What paging through one snapshot gave: the whole text, each window, each answer, the first header."""

    whole: str = ""
    windows: list[str] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    total: int | None = None
    line_ends: list[bool] = field(default_factory=list)
    """For each window but the last: whether it ended at the end of a line."""


def framed(answer: str) -> str:
    """The framed part of an answer (the page's), without the frame lines."""
    found = FRAMED.search(answer)
    assert found is not None, answer
    return found.group(1)


async def read_all(client: Any, limit: int = 300, **arguments: Any) -> Paged:
    """Every window of one snapshot, from a call with `arguments` on, following the cursors."""
    paged = Paged()
    call: dict[str, Any] = dict(arguments)
    offset = 0
    while True:
        result = await client.call_tool("snapshot", call)
        assert not result.is_error, text(result)
        paged.answers.append(result)
        shown = text(result)
        inside = framed(shown)
        header_lines = 2 if offset == 0 else 1
        parts = inside.split("\n", header_lines)
        paged.headers.append("\n".join(parts[:header_lines]))
        window = parts[header_lines] if len(parts) > header_lines else ""
        paged.windows.append(window)
        marker = MARKER.search(shown)
        if marker is None:
            paged.whole += window
            assert paged.total is None or len(paged.whole) == paged.total
            break
        start, end, total = (int(marker.group(i)) for i in (1, 2, 3))
        assert start == offset, (start, offset)
        assert paged.total in (None, total), (paged.total, total)
        paged.total = total
        assert len(window) in (end - start, end - start - 1), (len(window), start, end)
        paged.whole += window + "\n" * (end - start - len(window))
        paged.line_ends.append(end - start - len(window) == 1)
        offset = end
        call = {
            "cursor": marker.group(5),
            **({"max_chars": arguments["max_chars"]} if "max_chars" in arguments else {}),
        }
        assert len(paged.answers) < limit
    return paged
