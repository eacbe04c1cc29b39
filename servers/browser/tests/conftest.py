"""Fixtures for the browser tests: the local sites, scratch directories, and one browser server per module.

The server is built once per test module (one Chromium per module keeps the run short); each test opens its
own client connection, and so its own isolated browser context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_browser.server import Settings, build
from patchbay_common.testing.modules import import_file

site_module = import_file(Path(__file__).parent / "site.py", "patchbay_browser_tests_site")


@pytest.fixture(scope="session")
def site() -> Iterator[Any]:
    """The test site on 127.0.0.1 (allowed by the test servers' --allow-host)."""
    running = site_module.start_site("127.0.0.1")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def internal_site() -> Iterator[Any]:
    """The same site on 127.0.0.2: a loopback address no test server allows, to prove the guard."""
    running = site_module.start_site("127.0.0.2")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Downloads directory, upload directory (with files), and a directory outside it with a secret."""
    base = tmp_path_factory.mktemp("browser")
    found = {name: base / name for name in ("downloads", "uploads", "outside")}
    for path in found.values():
        path.mkdir()
    (found["uploads"] / "report.txt").write_text("quarterly report\n")
    (found["uploads"] / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    (found["outside"] / "secret.txt").write_text("do not upload me\n")
    (found["uploads"] / "escape.txt").symlink_to(found["outside"] / "secret.txt")
    return found


def settings_for(*flags: str) -> Settings:
    """Settings from command-line flags, with the system Chromium."""
    return Settings(_cli_parse_args=list(flags))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def server(dirs: dict[str, Path], chromium_path: str) -> AsyncIterator[Any]:
    """A browser server that may reach 127.0.0.1, saves downloads, allows uploads and evaluate."""
    built = build(
        settings_for(
            "--allow-host", "127.0.0.1",
            "--executable-path", chromium_path,
            "--downloads-dir", str(dirs["downloads"]),
            "--upload-dir", str(dirs["uploads"]),
            "--allow-eval",
            "--action-timeout", "2",
            "--navigation-timeout", "10",
        )
    )  # fmt: skip
    async with built.browser.held():  # one Chromium for the whole module, across client connections
        yield built
    assert built.browser.launches <= 1  # never relaunched (none when xdist gave this worker no page)
