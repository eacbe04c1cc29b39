"""patchbay-slack: Slack channels, history, threads, users and search for MCP clients, through slack-sdk.

Read-only unless the operator passes `--allow-post` with a channel allow-list (names or IDs, `!` to
deny); the write tools are not listed without it, and file upload also needs `--upload-dir` (files only
from those directories, through patchbay_common.roots, narrowed by the client's roots). Tokens come from
the environment (SLACK_BOT_TOKEN, SLACK_USER_TOKEN, or one variable per `--workspace NAME=VAR`) and are
redacted everywhere. The server starts and lists its tools with no token at all; each call then says how
to configure one. The channel and user name cache warms in the background after start-up and never
delays `initialize`. Domain logic is in api.py, directory.py, reads.py and posts.py (nothing there knows
MCP); the tools are declared in conversations.py, people.py and posting.py, on the `Deps` of deps.py.
Slack's `ok:false` answers and 429s reach the model as isError texts that say what to do next. It serves
both protocol eras over stdio, SSE and streamable HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from pydantic import Field, field_validator

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.egress import ProxySettings
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.toolsets import READ
from patchbay_slack import __version__, conversations, people, posting, reads
from patchbay_slack.api import DEFAULT_BASE_URL
from patchbay_slack.deps import Deps
from patchbay_slack.policy import PostRules
from patchbay_slack.posts import Poster
from patchbay_slack.workspaces import Workspaces


class Settings(ProxySettings, CommonSettings):
    """Flags of patchbay-slack (each also PATCHBAY_SLACK_<FLAG>); tokens come from the environment."""

    model_config = settings_config("slack")

    workspace: list[str] = Field(
        default_factory=list,
        description="A workspace as NAME=ENV_VAR (token in that variable), or NAME=ENV_VAR:USER_ENV_VAR to "
        "add a user token for search, with @TEAM_ID at the end for an Enterprise Grid org-wide token "
        "(repeatable; the first is the default). Without it: SLACK_BOT_TOKEN.",
    )
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Slack Web API.")
    allow_post: list[str] = Field(
        default_factory=list,
        description="Enable the write tools for these channels: comma-separated names or IDs, '*' for all "
        "channels, '!name' to deny (denials win), '@U0123ABC' or '@*' for direct messages; 'NAME:' before "
        "entries scopes them to one workspace (repeatable).",
    )
    unfurl: bool = Field(False, description="Let Slack unfurl links and media in posted messages.")
    upload_dir: list[Path] = Field(
        default_factory=list,
        description="A directory files may be uploaded from (repeatable; needs --allow-post).",
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest file slack_upload_file sends.")
    request_timeout: float = Field(15.0, gt=0, description="Seconds one HTTP request to Slack may take.")
    max_retry_wait: float = Field(
        20.0,
        ge=0,
        description="Longest Retry-After (seconds) waited for; a longer one fails the call at once.",
    )
    cache_ttl: float = Field(3600.0, gt=0, description="Seconds the channel and user name cache is kept.")
    warm_cache: bool = Field(True, description="Load channel and user names in the background at start-up.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"


def warming(
    workspaces: Workspaces, enabled: bool
) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan that loads channel and user names in the background, never delaying `initialize`."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            for ws in workspaces.items.values() if enabled else ():
                if ws.api.token and ws.directory.users_loaded_at is None:
                    group.start_soon(ws.directory.warm)
            yield {}
            group.cancel_scope.cancel()

    return lifespan


def build(settings: Settings) -> PatchbayServer:
    """The server: read tools always, write tools when --allow-post is given, upload with --upload-dir."""
    workspaces = Workspaces.from_config(
        settings.workspace,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_wait=min(settings.max_retry_wait, settings.tool_timeout / 2),
        cache_ttl=settings.cache_ttl,
        proxies=settings.proxy_config(),  # --proxy-url/--no-proxy, HTTPS_PROXY/ALL_PROXY/NO_PROXY
    )
    policy = PostRules.parse(settings.allow_post, workspaces.names()) if settings.allow_post else None
    if settings.upload_dir and policy is None:
        raise ValueError("--upload-dir needs --allow-post (uploading posts the file to a channel)")
    roots = Roots(settings.upload_dir) if settings.upload_dir else None
    poster = (
        Poster(policy, unfurl=settings.unfurl, max_upload_bytes=settings.max_upload_bytes) if policy else None
    )
    deps = Deps(workspaces=workspaces, max_chars=settings.max_output_chars, poster=poster)
    granted = {READ, posting.POST} if poster else {READ}

    mcp = PatchbayServer(
        "patchbay-slack",
        version=__version__,
        settings=settings,
        roots=roots,
        lifespan=warming(workspaces, settings.warm_cache),
    )
    mcp.workspaces = workspaces  # type: ignore[attr-defined]  # for tests and forks
    mcp.add_toolset(conversations.tools, deps, access=granted)
    mcp.add_toolset(people.tools, deps, access=granted)
    mcp.add_toolset(
        posting.tools,
        deps,
        access=granted,
        only=lambda spec: roots is not None or spec.name != posting.UPLOAD,
    )

    @mcp.resource("slack://{workspace}/channels", mime_type="text/plain", untrusted="slack channels")
    async def channel_directory(workspace: str) -> str:
        """Every channel of the workspace the token can see, one line each (name, ID, flags, topic)."""
        return await reads.channel_directory(workspaces.get(None if workspace == "default" else workspace))

    @mcp.resource("slack://{workspace}/users", mime_type="text/plain", untrusted="slack users")
    async def user_directory(workspace: str) -> str:
        """Every user of the workspace, one line each (handle, ID, real name, title, time zone)."""
        return await reads.user_directory(workspaces.get(None if workspace == "default" else workspace))

    def workspace_names(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        """The configured workspaces (`default` is the first one's name without --workspace)."""
        return list(workspaces.items)

    mcp.complete("slack://{workspace}/channels", "workspace")(workspace_names)
    mcp.complete("slack://{workspace}/users", "workspace")(workspace_names)
    return mcp


def preflight(settings: Settings) -> list[str]:
    """Start-up check: a bot token is given (a warning, or with --strict a refusal)."""
    from patchbay_common.preflight import missing_env

    if settings.workspace:
        return []
    fix = "install the Slack app and set its bot token (xoxb-...) in the client's env"
    return missing_env(["SLACK_BOT_TOKEN"], "Slack bot token", fix)


def main() -> None:
    """Console entry point: `patchbay-slack [flags]`."""
    serve(build, Settings, secret_env=["SLACK_BOT_TOKEN"], preflight=preflight)
