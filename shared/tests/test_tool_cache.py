"""The tool schema cache: a second start lists the same tools without building them, and no stale ones.

Each test gets its own cache directory (`PATCHBAY_CACHE_DIR`); the fingerprints of source files are
remembered per process, so tests that change a source file forget them first.
"""

from __future__ import annotations

import importlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field
from typing_extensions import TypedDict

from patchbay_common import sdk, tool_cache
from patchbay_common.app import PatchbayServer
from patchbay_common.results import Reply
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text
from patchbay_common.tool_cache import PendingTool
from patchbay_common.toolsets import Toolset

pytestmark = pytest.mark.anyio


class Picked(TypedDict):
    choice: str
    count: int


tools = Toolset("cached", "Tools whose schemas are cached.")


@tools.tool()
async def pick(
    deps: None,
    choice: Annotated[str, Field(description="The letter to repeat.")],
    count: Annotated[int, Field(ge=1, le=5, description="How many times.")] = 1,
) -> str:
    """Repeat a letter."""
    return choice * count


@tools.tool()
async def pick_structured(
    deps: None, choice: str, count: Annotated[int, Field(gt=0)] = 1
) -> Annotated[Reply, Picked]:
    """Repeat a letter, with the answer as structured content too."""
    return Reply(choice * count, structured={"choice": choice, "count": count})


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "cache"
    monkeypatch.setenv("PATCHBAY_CACHE_DIR", str(directory))
    yield directory
    tool_cache._package_fingerprint.cache_clear()
    tool_cache._runtime_fingerprint.cache_clear()


def build(toolset: Toolset = tools, deps: Any = None, name: str = "cache-demo") -> PatchbayServer:
    server = PatchbayServer(name, version="1")
    server.add_toolset(toolset, deps)
    return server


def pending(server: PatchbayServer) -> list[str]:
    return [t.name for t in sdk.registered_tools(server) if isinstance(t, PendingTool)]


def cached(cache: Path) -> dict[str, Any]:
    """The tools of the one cache file, by name."""
    (path,) = cache.iterdir()
    return json.loads(path.read_text())["tools"]  # type: ignore[no-any-return]


def tamper(cache: Path, old: str, new: str) -> None:
    (path,) = cache.iterdir()
    path.write_text(path.read_text().replace(old, new))


def write_cache(cache: Path, content: str) -> None:
    cache.mkdir(exist_ok=True)
    (cache / "tools-cache-demo.json").write_text(content)


def blocked(tmp_path: Path) -> Path:
    """A cache directory that cannot be created: its parent is a file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "cache"


async def listing(server: PatchbayServer, era: str = "legacy") -> list[dict[str, Any]]:
    async with connect(server, era=era) as client:
        found = (await client.list_tools()).tools
    return [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in found]


async def call(server: PatchbayServer, tool: str, arguments: dict[str, Any]) -> tuple[bool, str, Any]:
    async with connect(server, era="legacy") as client:
        result = await client.call_tool(tool, arguments)
    return bool(result.is_error), text(result), result.structured_content


@pytest.mark.parametrize("era", ERAS)
async def test_a_second_start_lists_the_same_tools_from_the_cache_and_calls_them_alike(
    era: str, cache: Path
) -> None:
    first = build()
    first.tool_cache.save()
    assert pending(first) == []
    second = build()
    assert pending(second) == ["pick", "pick_structured"]
    assert await listing(second, era) == await listing(first, era)
    for arguments in ({"choice": "a", "count": 3}, {"choice": "a", "count": 9}, {"count": 2}, {}):
        assert await call(second, "pick", arguments) == await call(first, "pick", arguments)
    structured = await call(second, "pick_structured", {"choice": "b", "count": 2})
    assert structured == await call(first, "pick_structured", {"choice": "b", "count": 2})
    assert structured == (False, "bb", {"choice": "b", "count": 2})
    assert pending(second) == []  # built at their first call


def test_the_file_is_the_owners_alone_and_holds_only_schemas(cache: Path) -> None:
    server = build()
    server.tool_cache.save()
    (path,) = cache.iterdir()
    assert path.name == "tools-cache-demo.json"
    if os.name == "posix":
        assert stat.S_IMODE(cache.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["format"] == 1 and sorted(data["tools"]) == ["pick", "pick_structured"]
    listed, output = json.loads(data["tools"]["pick_structured"]["schemas"])
    assert listed["properties"]["count"]["minimum"] == 1  # the portable form (no exclusiveMinimum) is cached
    assert output["properties"]["choice"] == {"title": "Choice", "type": "string"}


def test_nothing_changed_nothing_written(cache: Path) -> None:
    build().tool_cache.save()
    path = next(cache.iterdir())
    before = path.stat().st_mtime_ns
    again = build()
    again.tool_cache.save()
    assert path.stat().st_mtime_ns == before


async def test_an_edit_made_after_registration_is_kept_when_the_tool_is_built(cache: Path) -> None:
    build().tool_cache.save()
    server = build()
    registered = sdk.registered_tool(server, "pick")
    assert isinstance(registered, PendingTool)
    registered.parameters["properties"]["choice"]["enum"] = ["a", "b"]  # as github edits its schemas
    assert await call(server, "pick", {"choice": "a"}) == (False, "a", {"result": "a"})
    assert pending(server) == ["pick_structured"]
    (pick_listed,) = [t for t in await listing(server) if t["name"] == "pick"]
    assert pick_listed["inputSchema"]["properties"]["choice"]["enum"] == ["a", "b"]
    build().tool_cache.save()  # and the edit never reaches the file
    assert "enum" not in json.dumps(cached(cache))


def _write_package(root: Path, count_field: str) -> None:
    package = root / "cachepkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "tools.py").write_text(
        "from typing import Annotated\n"
        "from pydantic import Field\n"
        "from patchbay_common.toolsets import Toolset\n"
        "tools = Toolset('pkg', 'A package of tools.')\n"
        "@tools.tool()\n"
        f"async def repeat(deps: None, word: str, {count_field}) -> str:\n"
        "    '''Repeat a word.'''\n"
        "    return word\n"
    )


def _import_tools(root: Path) -> Toolset:
    for name in [m for m in sys.modules if m == "cachepkg" or m.startswith("cachepkg.")]:
        del sys.modules[name]
    tool_cache._package_fingerprint.cache_clear()
    importlib.invalidate_caches()
    module = importlib.import_module("cachepkg.tools")
    return module.tools  # type: ignore[no-any-return]


async def test_a_changed_source_file_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "src"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    _write_package(root, "times: int = 1")
    try:
        build(_import_tools(root), name="pkg").tool_cache.save()
        assert pending(build(_import_tools(root), name="pkg")) == ["repeat"]
        # A bound changes, the signature's text hardly: the file's size and time tell.
        _write_package(root, "times: Annotated[int, Field(le=3)] = 1")
        os.utime(root / "cachepkg" / "tools.py", ns=(1, 1))
        server = build(_import_tools(root), name="pkg")
        assert pending(server) == []
        (listed,) = await listing(server)
        assert listed["inputSchema"]["properties"]["times"]["maximum"] == 3
    finally:
        for name in [m for m in sys.modules if m == "cachepkg" or m.startswith("cachepkg.")]:
            del sys.modules[name]


async def test_a_stale_entry_is_listed_once_then_replaced_by_the_truth(cache: Path) -> None:
    build().tool_cache.save()
    tamper(cache, "How many times.", "How many times, at most 500.")
    server = build()
    (before,) = [t for t in await listing(server) if t["name"] == "pick"]
    assert "at most 500" in before["inputSchema"]["properties"]["count"]["description"]
    is_error, said, _ = await call(server, "pick", {"choice": "a", "count": 500})
    assert is_error and "less than or equal to 5" in said  # the arguments are checked by the real model
    (after,) = [t for t in await listing(server) if t["name"] == "pick"]
    assert after["inputSchema"]["properties"]["count"]["description"] == "How many times."
    assert sorted(cached(cache)) == ["pick_structured"]
    assert pending(build()) == ["pick_structured"]  # the next start builds pick again


def test_a_tool_defined_in_a_function_is_never_cached(cache: Path) -> None:
    server = build()

    @server.tool()
    async def local(word: str) -> str:
        """Echo a word."""
        return word

    server.tool_cache.save()
    assert sorted(json.loads(next(cache.iterdir()).read_text())["tools"]) == ["pick", "pick_structured"]


async def test_off_unwritable_or_broken_caches_leave_the_server_working(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHBAY_CACHE_DIR", "off")
    server = build()
    server.tool_cache.save()
    assert server.tool_cache.path is None and not any(cache.parent.glob("cache"))
    assert await call(server, "pick", {"choice": "c"}) == (False, "c", {"result": "c"})

    monkeypatch.setenv("PATCHBAY_CACHE_DIR", str(blocked(tmp_path)))
    server = build()
    server.tool_cache.save()  # cannot create the directory: no error
    assert await call(server, "pick", {"choice": "d"}) == (False, "d", {"result": "d"})

    monkeypatch.setenv("PATCHBAY_CACHE_DIR", str(cache))
    for broken in ("not json", "[]", '{"format": 1, "tools": {"pick": {"key": 3}}}', '{"format": 99}'):
        write_cache(cache, broken)
        server = build()
        assert pending(server) == []
        assert await call(server, "pick", {"choice": "e"}) == (False, "e", {"result": "e"})


def test_a_file_or_directory_others_can_write_is_neither_read_nor_written(cache: Path) -> None:
    build().tool_cache.save()
    (path,) = cache.iterdir()
    path.chmod(0o666)
    assert pending(build()) == []  # another user could have put any schema there
    path.chmod(0o600)
    assert pending(build()) == ["pick", "pick_structured"]
    cache.chmod(0o777)
    assert pending(build()) == []
    path.unlink()
    build().tool_cache.save()
    assert list(cache.iterdir()) == []


def test_the_default_directory_follows_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PATCHBAY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert tool_cache.cache_dir() == tmp_path / "patchbay"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
        assert tool_cache.cache_dir() == Path.home() / ".cache" / "patchbay"
