"""The protocol layer holds for every server: declared tools only, no SDK internals outside the adapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for p in [*ROOT.glob("servers/*/src/**/*.py"), *ROOT.glob("shared/src/**/*.py")] if p.name != "sdk.py"
)
PRIVATE = re.compile(
    r"\._lowlevel_server\b|\._subscriptions\b|\._tool_manager\b|\._resource_manager\b|\._prompt_manager\b"
    r"|(?<!self)\._connection\b|create_initialization_options\s*=|\._request_handlers\b|\.conn\._conn\b|\._execute\("
)
HAND_WRITTEN = re.compile(r"\bhints\(|add_request_handler\(\s*\"resources/subscribe")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sdk_internals_outside_the_adapter(path: Path) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line) and not line.lstrip().startswith("#")
    ]
    assert not found, "use patchbay_common.sdk instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if "/servers/" in str(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_servers_declare_instead_of_hand_writing(path: Path) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_WRITTEN.search(line)
    ]
    assert not found, "declare annotations on the tool; use mcp.subscriptions():\n" + "\n".join(found)
