"""The files toolset, each tool only when the operator enabled it.

Uploads come from --upload-dir only; downloads and PDFs go into --downloads-dir.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import DOWNLOAD, UPLOAD, Deps, Ref
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("files", "Upload files to a page, list downloads, print to PDF.")

DOWNLOADS = "downloads"
LIST_DOWNLOADS = "list_downloads"


@tools.tool(access=UPLOAD, open_world=True, structured_output=False)
async def upload_file(
    deps: Deps,
    ref: Ref,
    paths: Annotated[
        list[str],
        Field(min_length=1, max_length=20, description="Files to attach, inside the upload directories."),
    ],
    ctx: Context[Any, Any],
    roots: AllowedRoots,
) -> str:
    """Attach files from the allowed upload directories to a file input by ref, or its chooser."""
    files = [actions.read_upload(roots, path) for path in paths]
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref)
        return await actions.upload(session, tab, locator, ref, files)


@tools.tool(untrusted=DOWNLOADS, structured_output=False, name=LIST_DOWNLOADS)
async def list_downloads(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """List this session's downloads: name, size, source URL, and where each was saved or why not."""
    async with deps.session(ctx) as session:
        return await actions.downloads_text(session, deps.room(DOWNLOADS))


@tools.tool(access=DOWNLOAD, untrusted="web page", structured_output=False)
async def save_pdf(
    deps: Deps,
    ctx: Context[Any, Any],
    name: Annotated[
        str | None,
        Field(
            max_length=100, pattern=r"^[A-Za-z0-9._ -]+$", description="File name (default: from the title)."
        ),
    ] = None,
) -> Reply:
    """Print the selected tab to a PDF file in the downloads directory; return its path and size."""
    async with deps.session(ctx) as session:
        return await actions.save_pdf(session, await session.ensure_tab(), name)
