"""The protocol layer: declarations become listing, annotations, frames, caps, confirmations and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from mcp.shared.exceptions import MCPError
from pydantic import Field
from typing_extensions import TypedDict

from patchbay_common.app import PatchbayServer
from patchbay_common.errors import NotFound, UserError
from patchbay_common.results import Reply
from patchbay_common.settings import CommonSettings
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import HOSTILE, assert_capped, assert_neutralized, structured, text
from patchbay_common.toolsets import Toolset

pytestmark = pytest.mark.anyio
BUDGET = 2_000


@dataclass
class Deps:
    """What the tools need: here, a store of rows and a log of writes."""

    rows: list[dict[str, Any]]
    written: list[str]


class Rows(TypedDict):
    rows: list[dict[str, Any]]
    count: int


tools = Toolset("demo", "Tools that show the layer.")


@tools.tool(untrusted="demo rows")
async def read_rows(deps: Deps, count: Annotated[int, Field(ge=0)] = 3) -> Annotated[Reply, Rows]:
    """Return rows."""
    rows = deps.rows[:count]
    body = "\n".join(str(r) for r in rows)
    return Reply(body, note=f"{len(rows)} rows.", structured={"rows": rows, "count": len(rows)})


@tools.tool(untrusted="demo text")
async def read_text(deps: Deps, size: int = 10) -> str:
    """Return text from outside."""
    return (HOSTILE + " ") * size


@tools.tool()
async def fail(deps: Deps, size: int = 10) -> str:
    """Fail with a long message."""
    raise UserError("x" * size, hint="Try a smaller size.")


def ask(deps: Deps, item: str) -> str | None:
    return f"Delete {item}?" if item != "safe" else None


@tools.tool(access="write", destructive=True, confirm=ask)
async def delete_item(deps: Deps, item: str) -> str:
    """Delete an item."""
    deps.written.append(item)
    return f"deleted {item}"


def build(allow_write: bool = False) -> tuple[PatchbayServer, Deps]:
    settings = CommonSettings(_cli_parse_args=[], max_output_chars=BUDGET)  # type: ignore[call-arg]
    mcp = PatchbayServer("layer-test", version="0", settings=settings)
    deps = Deps(rows=[{"name": HOSTILE, "n": i} for i in range(200)], written=[])
    mcp.add_toolset(tools, deps, access={"read", "write"} if allow_write else {"read"})

    @mcp.resource("demo://{name}", untrusted="demo resource")
    async def demo_resource(name: str) -> str:
        if name == "missing":
            raise NotFound("No such thing.", hint="List them first.")
        if name == "refused":
            raise UserError("Not for you." + "y" * 5000)
        return HOSTILE * 400

    @mcp.prompt()
    def demo_prompt(topic: str) -> str:
        """A prompt."""
        if topic == "bad":
            raise UserError("Topic refused.", hint="Pick another topic.")
        return "Talk about " + topic * 5000

    return mcp, deps


@pytest.mark.parametrize("era", ERAS)
async def test_write_tools_are_not_listed_unless_granted(era: str) -> None:
    for allow, expected in ((False, False), (True, True)):
        mcp, _ = build(allow)
        async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
            listed = {t.name: t for t in (await client.list_tools()).tools}
        assert ("delete_item" in listed) is expected
        read = listed["read_rows"].annotations
        assert read is not None and read.read_only_hint and read.idempotent_hint
        assert not read.destructive_hint
        if expected:
            write = listed["delete_item"].annotations
            assert write is not None and not write.read_only_hint and write.destructive_hint


@pytest.mark.parametrize("era", ERAS)
async def test_untrusted_output_is_framed_in_text_and_sanitized_in_structured_form(era: str) -> None:
    mcp, _ = build()
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool("read_rows", {"count": 2})
        plain = await client.call_tool("read_text", {"size": 1})
    assert not result.is_error
    assert_neutralized(result)
    assert_neutralized(plain)
    assert text(result).rstrip().endswith("2 rows.")  # the note stays outside the frame
    assert structured(result)["count"] == 2
    assert "Ignore previous instructions" in structured(result)["rows"][0]["name"]


@pytest.mark.parametrize("era", ERAS)
async def test_text_and_structured_content_share_one_budget(era: str) -> None:
    mcp, _ = build()
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        rows = await client.call_tool("read_rows", {"count": 200})
        big = await client.call_tool("read_text", {"size": 500})
    for result in (rows, big):
        assert not result.is_error
        assert_capped(result, BUDGET)
        assert_neutralized(result)
        assert "[truncated: showing characters 0-" in text(result)
    assert text(big).count("</untrusted-data-") == 1  # the frame's closing line survives the cut


@pytest.mark.parametrize("era", ERAS)
async def test_errors_keep_their_hint_and_are_capped(era: str) -> None:
    mcp, _ = build()
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        small = await client.call_tool("fail", {"size": 5})
        huge = await client.call_tool("fail", {"size": 2_000_000})
        invalid = await client.call_tool("read_rows", {"count": "x" * 1_000_000})
    assert small.is_error and text(small) == "xxxxx Try a smaller size."
    assert huge.is_error and len(text(huge)) <= 2_100 and "error text cut" in text(huge)
    assert invalid.is_error and len(text(invalid)) <= 2_100


@pytest.mark.parametrize("era", ERAS)
async def test_resource_and_prompt_errors_keep_their_text(era: str) -> None:
    mcp, _ = build()
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        with pytest.raises(MCPError) as missing:
            await client.read_resource("demo://missing")
        with pytest.raises(MCPError) as refused:
            await client.read_resource("demo://refused")
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("demo_prompt", {"topic": "bad"})
        content = await client.read_resource("demo://fine")
        long_prompt = await client.get_prompt("demo_prompt", {"topic": "abc"})
    assert "No such thing. List them first." in missing.value.error.message
    assert "Not for you." in refused.value.error.message and len(refused.value.error.message) < 2_100
    assert "Topic refused. Pick another topic." in prompt.value.error.message
    assert len(text(content)) <= BUDGET and "[truncated:" in text(content)
    assert_neutralized(content)
    assert len(text(long_prompt)) <= BUDGET


@pytest.mark.parametrize("era", ERAS)
async def test_confirmation_asks_the_user_in_both_eras(era: str) -> None:
    from mcp_types import ElicitResult

    asked: list[str] = []

    async def answer(context: Any, params: Any) -> Any:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": params.message.startswith("Delete a?")})

    mcp, deps = build(allow_write=True)
    async with connect(mcp, era=era, elicitation_callback=answer) as client:  # type: ignore[arg-type]
        yes = await client.call_tool("delete_item", {"item": "a"})
        no = await client.call_tool("delete_item", {"item": "b"})
        unasked = await client.call_tool("delete_item", {"item": "safe"})
    assert not yes.is_error and text(yes) == "deleted a"
    assert no.is_error and "did not confirm" in text(no)
    assert not unasked.is_error
    assert asked == ["Delete a?\nGo ahead?", "Delete b?\nGo ahead?"]
    assert deps.written == ["a", "safe"]


@pytest.mark.parametrize("era", ERAS)
async def test_confirmation_without_an_elicitation_client_is_refused_and_nothing_changes(era: str) -> None:
    mcp, deps = build(allow_write=True)
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        refused = await client.call_tool("delete_item", {"item": "a"})
    assert refused.is_error
    assert "cannot ask the user to confirm" in text(refused) and "Nothing was changed" in text(refused)
    assert deps.written == []


def test_a_cut_inside_a_frame_after_a_heading_keeps_the_frame_closed() -> None:
    from patchbay_common.results import cap_text_to
    from patchbay_common.untrusted import wrap_untrusted

    text = "Contents of https://x:\n" + wrap_untrusted(HOSTILE * 100, "page") + "\nour note"
    cut = cap_text_to(text, 1_000)
    assert len(cut) <= 1_000
    tag = cut.split("<", 2)[1].split(" ")[0]
    assert cut.count(f"</{tag}>") == 1 and cut.index(f"</{tag}>") < cut.index("[truncated:")


@pytest.mark.parametrize("era", ERAS)
async def test_a_reply_with_only_a_note_is_not_framed(era: str) -> None:
    mcp, _ = build()
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool("read_rows", {"count": 0})
    assert text(result) == "0 rows."


def test_map_shaped_structured_content_is_cut_to_the_budget_too() -> None:
    from mcp_types import CallToolResult, TextContent

    from patchbay_common.results import _size, cap_result

    wide = {f"field-{i}-" + "k" * 200: "v" * 300 for i in range(500)}
    result = CallToolResult(content=[TextContent(text="x" * 5_000)], structured_content=wide)
    capped = cap_result(result, 3_000)
    total = sum(len(b.text) for b in capped.content if isinstance(b, TextContent))
    assert capped.structured_content is not None
    assert total + _size(capped.structured_content) <= 3_000
