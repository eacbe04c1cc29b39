"""Finding an installed Chrome, Chromium or Edge on macOS, Windows and Linux (issue 19), on real file trees.

Each test builds the folders an installer would leave (real files, executable or not) under a temporary
root, home and environment, and points `Search` at them; the start-up check then says to run
`playwright install chromium` only when nothing is there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchbay_browser.discovery import Search, find_installed
from patchbay_browser.server import Settings, preflight

MAC_CHROME = "Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
MAC_CHROMIUM = "Applications/Chromium.app/Contents/MacOS/Chromium"
MAC_EDGE = "Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge"


def _binary(path: Path, executable: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755 if executable else 0o644)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    return tmp_path


def _mac(tree: Path) -> Search:
    return Search("darwin", tree / "home", {"PATH": str(tree / "bin")}, tree / "root")


@pytest.mark.parametrize("app", [MAC_CHROME, MAC_CHROMIUM, MAC_EDGE])
@pytest.mark.parametrize("where", ["root", "home"])
def test_macos_app_bundles_in_applications_and_home(tree: Path, app: str, where: str) -> None:
    binary = _binary(tree / where / app)
    assert find_installed(_mac(tree)) == str(binary)


def test_macos_prefers_chrome_and_the_system_folder(tree: Path) -> None:
    _binary(tree / "home" / MAC_CHROME)
    _binary(tree / "root" / MAC_EDGE)
    chrome = _binary(tree / "root" / MAC_CHROME)
    assert find_installed(_mac(tree)) == str(chrome)


def test_macos_skips_what_cannot_run(tree: Path) -> None:
    _binary(tree / "root" / MAC_CHROME, executable=False)
    (tree / "root" / MAC_CHROMIUM).mkdir(parents=True)  # a folder where the binary should be
    assert find_installed(_mac(tree)) is None
    edge = _binary(tree / "home" / MAC_EDGE)
    assert find_installed(_mac(tree)) == str(edge)


@pytest.mark.parametrize(
    ("variable", "exe"),
    [
        ("ProgramFiles", "Google/Chrome/Application/chrome.exe"),
        ("PROGRAMFILES(X86)", "Google/Chrome/Application/chrome.exe"),
        ("ProgramW6432", "Microsoft/Edge/Application/msedge.exe"),
        ("LOCALAPPDATA", "Google/Chrome/Application/chrome.exe"),  # per-user install
        ("LocalAppData", "Chromium/Application/chrome.exe"),
        ("programfiles(x86)", "Microsoft/Edge/Application/msedge.exe"),
    ],
)
def test_windows_program_files_and_local_app_data(tree: Path, variable: str, exe: str) -> None:
    base = tree / "root" / variable
    binary = _binary(base / exe)
    search = Search("win32", tree / "home", {variable: str(base), "PATH": str(tree / "bin")}, tree / "root")
    assert find_installed(search) == str(binary)
    other = {"ProgramFiles": str(tree / "elsewhere"), "PATH": str(tree / "bin")}
    assert find_installed(Search("win32", tree / "home", other, tree / "root")) is None


def test_linux_install_places_and_the_path_first(tree: Path) -> None:
    search = Search("linux", tree / "home", {"PATH": str(tree / "bin")}, tree / "root")
    assert find_installed(search) is None
    lib = _binary(tree / "root" / "usr/lib/chromium/chromium")
    assert find_installed(search) == str(lib)
    on_path = _binary(tree / "bin" / "google-chrome")
    assert find_installed(search) == str(on_path)
    # The PATH is searched on every platform, before the install places.
    _binary(tree / "root" / MAC_CHROME)
    assert find_installed(_mac(tree)) == str(on_path)


def test_no_path_variable_searches_no_folder(tree: Path) -> None:
    assert find_installed(Search("linux", tree / "home", {}, tree / "root")) is None


@pytest.mark.parametrize("platform", ["darwin", "win32", "linux"])
def test_start_up_check_says_to_install_chromium_only_when_nothing_is_found(
    tree: Path, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tree / "ms-playwright"
    cache.mkdir()
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(cache))
    search = Search(platform, tree / "home", {"PATH": str(tree / "bin")}, tree / "root")
    settings = Settings(_cli_parse_args=[])
    [line] = preflight(settings, search)
    assert "playwright install chromium" in line and "--executable-path" in line

    (cache / "chromium-1187").mkdir()  # what `playwright install chromium` leaves
    assert preflight(settings, search) == []
    os.rmdir(cache / "chromium-1187")
    _binary(tree / "home" / MAC_CHROME if platform == "darwin" else tree / "bin" / "chromium")
    assert preflight(settings, search) == []


def test_a_named_binary_that_is_missing(tree: Path) -> None:
    settings = Settings(_cli_parse_args=["--executable-path", str(tree / "no-chrome")])
    [line] = preflight(settings, Search("darwin", tree / "home", {}, tree / "root"))
    assert "no such file" in line
